"""The Python SDK: ``Client`` and ``AsyncClient`` talk to a node over HTTP with the same
methods as the in-process engine, and raise the same error family."""

from memoturn.client._clients import AsyncClient, AsyncProfile, Client, Profile
from memoturn.engine.tokens import MintedToken

__all__ = ["AsyncClient", "AsyncProfile", "Client", "MintedToken", "Profile"]
