"""Pure code shared by every layer: model types, ids, errors, ranking. No I/O."""
