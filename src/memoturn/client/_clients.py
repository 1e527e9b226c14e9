"""The sync and async clients: the same calls (``_core``), two httpx transports."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from memoturn.client import _core
from memoturn.client._core import MAIN, Call, NodeCalls, ProfileCalls

T = TypeVar("T")


def _typed(method: Callable[..., Any], op: Callable[..., Any]) -> Callable[..., Any]:
    """Give a forwarding method the op's name, docstring and signature, with the return
    annotation ``Call[X]`` shown as ``X`` (what the client returns)."""
    functools.update_wrapper(method, op)
    del method.__wrapped__  # type: ignore[attr-defined]
    annotations = dict(getattr(op, "__annotations__", {}))
    ret = annotations.get("return")
    if isinstance(ret, str) and ret.startswith("Call[") and ret.endswith("]"):
        annotations["return"] = ret[5:-1]
    method.__annotations__ = annotations
    method.__signature__ = inspect.signature(op).replace(  # type: ignore[attr-defined]
        return_annotation=annotations.get("return", inspect.Signature.empty)
    )
    return method


def _sync_forward(ops: type, name: str) -> Callable[..., Any]:
    op = getattr(ops, name)

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return self._send(op(self._calls, *args, **kwargs))

    return _typed(method, op)


def _async_forward(ops: type, name: str) -> Callable[..., Any]:
    op = getattr(ops, name)

    async def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return await self._send(op(self._calls, *args, **kwargs))

    return _typed(method, op)


def _install(cls: type, ops: type, forward: Callable[[type, str], Callable[..., Any]]) -> None:
    for name in _core.operations(ops):
        setattr(cls, name, forward(ops, name))


class _BaseClient:
    """What both clients share: configuration and request arguments."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        data_dir: str | Path | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.url = _core.resolve_url(url)
        self.token = _core.resolve_token(token, data_dir)
        self.timeout = timeout
        self._calls = NodeCalls()

    def _args(self, call: Call[Any]) -> dict[str, Any]:
        args: dict[str, Any] = {"method": call.method, "url": call.path}
        if call.params:
            args["params"] = {k: v for k, v in call.params.items() if v is not None}
        if call.json is not None:
            args["json"] = call.json
        if call.content is not None:
            args["content"] = call.content
            args["headers"] = {"content-type": _core.NDJSON}
        return args

    def _finish(self, call: Call[T], response: httpx.Response) -> T:
        if call.text and response.is_success:
            return call.parse(response.text)
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return _core.finish(call, response.status_code, body, response.headers.get("retry-after"))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"


class Client(_BaseClient):
    """A Memoturn node over HTTP: ``Client(url, token)``; methods mirror :class:`Engine`.

    ``url`` defaults to ``MEMOTURN_URL`` (else http://127.0.0.1:8765); ``token`` to
    ``MEMOTURN_TOKEN``, else the root token file of ``data_dir`` (``./.memoturn``). Errors
    raise the :mod:`memoturn.core.errors` class named by the answer's ``error.code``.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        data_dir: str | Path | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, data_dir=data_dir, timeout=timeout)
        self._http = httpx.Client(
            base_url=self.url,
            headers=_core.headers(self.token),
            timeout=timeout,
            transport=transport,
        )

    def _send(self, call: Call[T]) -> T:
        try:
            response = self._http.request(**self._args(call))
        except httpx.TransportError as e:
            raise _core.transport_error(self.url, e) from e
        return self._finish(call, response)

    def profile(
        self,
        ns: str,
        name: str,
        branch: str = MAIN,
        *,
        min_txid: int | None = None,
        read_your_writes: bool = False,
    ) -> Profile:
        """One profile-branch; with ``min_txid`` its reads wait until that txid is visible.
        With ``read_your_writes`` the handle raises its ``min_txid`` to every txid it is
        answered with, so its reads see its own writes on any node of the deployment."""
        calls = ProfileCalls(ns, name, branch, min_txid, read_your_writes=read_your_writes)
        return Profile(self, calls)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """The async twin of :class:`Client` (same methods, awaited)."""

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        data_dir: str | Path | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(url, token, data_dir=data_dir, timeout=timeout)
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers=_core.headers(self.token),
            timeout=timeout,
            transport=transport,
        )

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(**self._args(call))
        except httpx.TransportError as e:
            raise _core.transport_error(self.url, e) from e
        return self._finish(call, response)

    def profile(
        self,
        ns: str,
        name: str,
        branch: str = MAIN,
        *,
        min_txid: int | None = None,
        read_your_writes: bool = False,
    ) -> AsyncProfile:
        """One profile-branch; with ``min_txid`` its reads wait until that txid is visible.
        With ``read_your_writes`` the handle raises its ``min_txid`` to every txid it is
        answered with, so its reads see its own writes on any node of the deployment."""
        calls = ProfileCalls(ns, name, branch, min_txid, read_your_writes=read_your_writes)
        return AsyncProfile(self, calls)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Profile:
    """One profile-branch through a :class:`Client`; methods mirror the engine's handle."""

    def __init__(self, client: Client, calls: ProfileCalls) -> None:
        self._client = client
        self._calls = calls

    def _send(self, call: Call[T]) -> T:
        return self._client._send(call)

    def __repr__(self) -> str:
        return f"<Profile {self._calls.base}@{self._calls.branch}>"


class AsyncProfile:
    """One profile-branch through an :class:`AsyncClient`."""

    def __init__(self, client: AsyncClient, calls: ProfileCalls) -> None:
        self._client = client
        self._calls = calls

    async def _send(self, call: Call[T]) -> T:
        return await self._client._send(call)

    def __repr__(self) -> str:
        return f"<AsyncProfile {self._calls.base}@{self._calls.branch}>"


_install(Client, NodeCalls, _sync_forward)
_install(AsyncClient, NodeCalls, _async_forward)
_install(Profile, ProfileCalls, _sync_forward)
_install(AsyncProfile, ProfileCalls, _async_forward)
