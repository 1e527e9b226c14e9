"""The Python SDK: ``Client`` and ``AsyncClient`` talk to a node over HTTP with the same
operations as the in-process engine (:mod:`memoturn.core.api`), and raise the same error
family. It imports no server part: an agent that only speaks HTTP does not load the
database, the object store client or the embedding model."""

from memoturn.client._async import AsyncClient, AsyncProfile
from memoturn.client._sync import Client, Profile
from memoturn.core.model import MintedToken

__all__ = ["AsyncClient", "AsyncProfile", "Client", "MintedToken", "Profile"]
