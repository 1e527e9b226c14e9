"""A scripted stand-in for an OpenAI-compatible chat model.

No real chat model can run in the test environment, so this is a fake: it answers each
user turn with the tool calls of the demo's own script for that turn, and once the tool
results are back, with the script's reply. Everything else is real: the demo's agent loop
sends it the MCP tools it listed and the results of the calls it made over MCP. The fake
records each request so a test can check what the agent sent.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeChatModel:
    """``turns`` maps a user message to ``(calls, reply)``; ``calls`` are
    ``(tool, arguments)`` pairs."""

    def __init__(self, turns: dict[str, tuple[list[tuple[str, dict[str, Any]]], str]]) -> None:
        self.turns = turns
        self.requests: list[dict[str, Any]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.requests.append(body)
                status, answer = fake.answer(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path != "/v1/chat/completions":
            return 404, {"error": {"message": f"no route {path}"}}
        messages = body["messages"]
        said = [m["content"] for m in messages if m["role"] == "user"][-1]
        if said not in self.turns:
            return 400, {"error": {"message": f"the script has no turn {said!r}"}}
        calls, reply = self.turns[said]
        if messages[-1]["role"] == "user":
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": tool, "arguments": json.dumps(args)},
                    }
                    for i, (tool, args) in enumerate(calls)
                ],
            }
        else:
            message = {"role": "assistant", "content": reply}
        return 200, {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}

    def __enter__(self) -> FakeChatModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
