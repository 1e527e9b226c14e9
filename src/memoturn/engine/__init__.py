"""The node: catalog, open-profile cache, and the in-process API."""

from memoturn.engine.engine import Engine, ProfileHandle

__all__ = ["Engine", "ProfileHandle"]
