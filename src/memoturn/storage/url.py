"""Open an object store from a URL, as configuration and the CLI name one.

Accepted forms::

    memory://                      a fresh in-memory store (nothing persists)
    file:///abs/path               a LocalDirStore in /abs/path
    s3://bucket[/prefix]           an S3Store; endpoint and credentials from the keyword
                                   arguments or AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
                                   AWS_SECRET_ACCESS_KEY, AWS_REGION
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

from memoturn.core.errors import InvalidInput
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.memory import MemoryStore
from memoturn.storage.objectstore import ObjectStore
from memoturn.storage.s3 import S3Store

_FORMS = "memory://, file:///absolute/path or s3://bucket/prefix"


def open_store(
    url: str,
    *,
    endpoint: str | None = None,
    region: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    env: Mapping[str, str] | None = None,
) -> ObjectStore:
    """Open the store ``url`` names. Keyword arguments win over the environment (``env``,
    by default ``os.environ``). Plain HTTP is allowed when the endpoint is ``http://``."""
    parts = urlsplit(url)
    if parts.scheme == "memory":
        if parts.netloc or parts.path not in ("", "/"):
            raise InvalidInput(f"store URL {url!r}: memory:// takes no path", hint=_FORMS)
        return MemoryStore()
    if parts.scheme == "file":
        return _open_file(url, parts.netloc, unquote(parts.path))
    if parts.scheme == "s3":
        env = os.environ if env is None else env
        endpoint = endpoint or env.get("AWS_ENDPOINT_URL")
        if not parts.netloc:
            raise InvalidInput(f"store URL {url!r} names no bucket", hint=_FORMS)
        return S3Store(
            parts.netloc,
            unquote(parts.path).strip("/"),
            endpoint=endpoint,
            region=region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            access_key_id=access_key_id or env.get("AWS_ACCESS_KEY_ID"),
            secret_access_key=secret_access_key or env.get("AWS_SECRET_ACCESS_KEY"),
            allow_http=bool(endpoint and endpoint.startswith("http://")),
        )
    raise InvalidInput(f"store URL {url!r} has an unknown scheme", hint=f"use {_FORMS}")


def _open_file(url: str, host: str, path: str) -> LocalDirStore:
    if host not in ("", "localhost") or not os.path.isabs(path):
        raise InvalidInput(
            f"store URL {url!r} is not an absolute file URL",
            hint="write file:///absolute/path (three slashes), e.g. file:///var/lib/memoturn",
        )
    return LocalDirStore(path)
