"""An object store on S3 or an S3-compatible server (SeaweedFS, MinIO, moto), via obstore.

Conditional puts are S3 conditional writes: ``if_absent`` sends ``If-None-Match: *`` and
``if_match`` sends ``If-Match: <etag>``; the server must honour them (AWS S3 does, and so do
SeaweedFS and moto, which the tests check). Etags are the server's (on S3 the MD5 of the
bytes), so rewriting identical bytes may keep the etag. Metadata travels as
``x-amz-meta-*`` headers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import obstore
import obstore.exceptions as obx
import obstore.store

from memoturn.storage.objectstore import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    PreconditionFailed,
    StoredObject,
    StoreError,
    StoreMisconfigured,
    check_put_args,
    check_range,
    validate_key,
    validate_metadata,
    validate_prefix,
)

if TYPE_CHECKING:
    from obstore import ObjectMeta, PutMode

# Attributes obstore reports that are HTTP headers, not user metadata.
_STANDARD_ATTRIBUTES = {
    "Content-Disposition",
    "Content-Encoding",
    "Content-Language",
    "Content-Type",
    "Cache-Control",
    "Storage-Class",
}
_DELETE_BATCH = 1000  # the most keys one S3 DeleteObjects request takes


class S3Store(ObjectStore):
    """Objects under ``prefix`` in ``bucket``. Arguments left ``None`` fall back to the
    standard ``AWS_*`` environment variables. ``allow_http`` is needed for an ``http://``
    endpoint. obstore itself retries 5xx answers and dropped connections a few times;
    wrap the store in ``RetryingStore`` for more."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        allow_http: bool = False,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            validate_key(self.prefix)
        config: dict[str, Any] = {
            "endpoint": endpoint,
            "region": region,
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
        }
        config = {name: value for name, value in config.items() if value is not None}
        with _translating("open store", f"s3://{bucket}/{self.prefix}"):
            self._store = obstore.store.S3Store(
                bucket,
                prefix=self.prefix or None,
                client_options={"allow_http": allow_http, "connect_timeout": "5s"},
                retry_config={"max_retries": 3, "retry_timeout": timedelta(seconds=30)},
                **config,
            )

    def __repr__(self) -> str:
        return f"S3Store('s3://{self.bucket}/{self.prefix}')"

    def get(self, key: str, *, op: str = "get") -> StoredObject:
        validate_key(key)
        with _translating("get", key):
            result = obstore.get(self._store, key)
            data = bytes(result.bytes())
        return StoredObject(key, data, _etag(result.meta, key), _metadata(result.attributes))

    def get_range(self, key: str, start: int, length: int, *, op: str = "get_range") -> bytes:
        validate_key(key)
        check_range(start, length)
        if length == 0:
            self._require(key)
            return b""
        try:
            with _translating("get_range", key):
                return bytes(obstore.get_range(self._store, key, start=start, length=length))
        except StoreError as e:
            # 416: the range starts at or past the end of the object, which the contract
            # answers with no bytes, as a file read past its end would.
            if "416 Range Not Satisfiable" in str(e.__cause__):
                self._require(key)
                return b""
            raise

    def head(self, key: str, *, op: str = "head") -> ObjectInfo | None:
        validate_key(key)
        try:
            with _translating("head", key):
                result = obstore.get(self._store, key, options={"head": True})
        except ObjectNotFound:
            return None
        return _info(result.meta, key, _metadata(result.attributes))

    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_absent: bool = False,
        if_match: str | None = None,
        metadata: dict[str, str] | None = None,
        op: str = "put",
    ) -> str:
        check_put_args(key, if_absent, if_match)
        attributes: dict[str, str] = validate_metadata(metadata)
        attributes["Content-Type"] = "application/octet-stream"
        mode: PutMode = "overwrite"
        if if_absent:
            mode = "create"
        elif if_match is not None:
            mode = {"e_tag": if_match}
        with _translating("put", key):
            result = obstore.put(
                self._store, key, data, attributes=attributes, mode=mode, use_multipart=False
            )
        if not result["e_tag"]:
            raise StoreMisconfigured(
                f"put {key!r}: the server returned no etag",
                hint="conditional updates need an S3 server that returns ETag on PUT",
            )
        return result["e_tag"]

    def delete(self, key: str, *, op: str = "delete") -> None:
        validate_key(key)
        with _translating("delete", key):
            obstore.delete(self._store, key)

    def delete_many(self, keys: Iterable[str], *, op: str = "delete_many") -> None:
        batch = [validate_key(key) for key in keys]
        for start in range(0, len(batch), _DELETE_BATCH):
            chunk = batch[start : start + _DELETE_BATCH]
            with _translating("delete_many", chunk[0]):
                obstore.delete(self._store, chunk)

    def list(self, prefix: str = "", *, op: str = "list") -> Iterator[ObjectInfo]:
        validate_prefix(prefix)
        # obstore lists whole path segments; list the prefix's folder and filter by string.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else None
        found: list[ObjectInfo] = []
        with _translating("list", prefix):
            for chunk in obstore.list(self._store, folder):
                for meta in chunk:
                    if meta["path"].startswith(prefix):
                        found.append(_info(meta, meta["path"], {}))
        found.sort(key=lambda info: info.key)
        return iter(found)

    def _require(self, key: str) -> None:
        if self.head(key) is None:
            raise ObjectNotFound(f"object {key!r} not found")


def _etag(meta: ObjectMeta, key: str) -> str:
    if not meta["e_tag"]:
        raise StoreMisconfigured(f"{key!r}: the server returned no etag")
    return meta["e_tag"]


def _info(meta: ObjectMeta, key: str, metadata: dict[str, str]) -> ObjectInfo:
    modified = meta["last_modified"].timestamp()
    return ObjectInfo(key, meta["size"], _etag(meta, key), modified, metadata)


def _metadata(attributes: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in attributes.items() if k not in _STANDARD_ATTRIBUTES}


@contextlib.contextmanager
def _translating(action: str, key: str) -> Iterator[None]:
    """Turn obstore's exceptions into the store's error kinds, once, at this boundary."""
    try:
        yield
    except (obx.BaseError, OSError) as e:
        raise _translated(action, key, e) from e


_REFUSED = (
    obx.PermissionDeniedError,
    obx.UnauthenticatedError,
    obx.NotSupportedError,
    obx.UnknownConfigurationKeyError,
    obx.InvalidPathError,
)


def _translated(action: str, key: str, e: Exception) -> Exception:
    if "NoSuchBucket" in str(e):
        return StoreMisconfigured(
            f"{action} {key!r}: the bucket does not exist", hint="create the bucket first"
        )
    if isinstance(e, FileNotFoundError):
        return ObjectNotFound(f"object {key!r} not found")
    if isinstance(e, obx.AlreadyExistsError | obx.PreconditionError):
        return PreconditionFailed(
            f"{action} {key!r}: the condition failed",
            hint="the object exists already or changed since it was read; read it again",
        )
    if isinstance(e, _REFUSED):
        return StoreMisconfigured(
            f"{action} {key!r} refused: {_first_line(e)}",
            hint="check the bucket, credentials, endpoint and region",
        )
    # 5xx, dropped connections, timeouts, 409 ConditionalRequestConflict: all transient.
    return StoreError(f"{action} {key!r} failed: {_first_line(e)}")


def _first_line(e: BaseException) -> str:
    return str(e).split("\n", 1)[0][:300]
