"""``python -m memoturn``: the ``memoturn`` command."""

from memoturn.cli import main

raise SystemExit(main())
