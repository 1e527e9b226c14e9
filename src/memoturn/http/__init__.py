"""The REST edge: ``create_app(engine)`` is the node's FastAPI app (API.md)."""

from memoturn.http.app import MAX_BODY_BYTES, create_app
from memoturn.http.live import BackgroundServer, ThrowawayNode

__all__ = ["MAX_BODY_BYTES", "BackgroundServer", "ThrowawayNode", "create_app"]
