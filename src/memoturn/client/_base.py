"""What both clients share: configuration and request arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import httpx

from memoturn.client import _core
from memoturn.client._core import Call, NodeCalls

T = TypeVar("T")


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
