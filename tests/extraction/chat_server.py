"""A loopback HTTP server that speaks the OpenAI chat-completions API with scripted answers.

No real chat model can run in the test environment, so this is a fake: each request gets
the next answer of its script. Everything else is real (the HTTP client, the engine, the
database, the embedder). The server records every request it received, so a test checks
what was sent: the prompt, the schema, and that nothing reached it when the policy forbids.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = tuple[int, Any] | Callable[[dict[str, Any]], tuple[int, Any]]


def completion(content: str | None, finish_reason: str = "stop") -> tuple[int, Any]:
    """A chat completion whose message says ``content``."""
    message = {"role": "assistant", "content": content}
    return 200, {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }


def memories(*items: tuple[str, str, str | None, list[int]]) -> tuple[int, Any]:
    """A well-formed answer: ``(type, content, topic, turn_ids)`` items."""
    body = {
        "memories": [
            {"type": t, "content": c, "topic": k, "turn_ids": ids} for t, c, k, ids in items
        ]
    }
    return completion(json.dumps(body))


class ScriptedChat:
    """``answers`` are given in order, one per request; once they run out the server answers
    HTTP 500 (so a test that asks more than it scripted fails loudly)."""

    def __init__(self, answers: list[Answer] | None = None) -> None:
        self.answers: list[Answer] = list(answers or [])
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                fake.requests.append(body)
                fake.paths.append(self.path)
                fake.headers.append(dict(self.headers))
                if self.path != "/v1/chat/completions":
                    status, answer = 404, {"error": {"message": "no such route"}}
                elif not fake.answers:
                    status, answer = 500, {"error": {"message": "the script has no more answers"}}
                else:
                    step = fake.answers.pop(0)
                    status, answer = step(body) if callable(step) else step
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

    def user_messages(self) -> list[str]:
        """The turns each request carried (its user message)."""
        return [m["content"] for r in self.requests for m in r["messages"] if m["role"] == "user"]

    def __enter__(self) -> ScriptedChat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
