"""The per-turn report of a scripted extraction run, for the docs.

``python -m memoturn.bench.extraction_report`` opens a throwaway engine, records a short
conversation, and extracts memories from it twice: with the in-process rule extractor, and
with the chat extractor talking to a loopback server that answers the chat-completions API
from a fixed script. No real chat model runs here, so that server is a stand-in: the
figures show what Memoturn does with a model's answer (the report, supersession,
duplicates, skips, re-runs, the preview), not the quality of any model.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONVERSATION = [
    ("user", "Hi! I'm Dana, I'm vegetarian and I live in Lisbon."),
    ("assistant", "Nice to meet you, Dana. What can I do for you?"),
    ("user", "Remind me to book the dentist for next week."),
    ("user", "What's the weather like today?"),
    ("assistant", "Sunny, 24 degrees."),
    ("user", "My favourite colour is green. Always answer in English, please."),
    ("user", "Oh, and I moved to Porto last month."),
    ("user", "I'm vegetarian, as I said."),
]

SCRIPT = {
    "memories": [
        {"type": "fact", "content": "The user's name is Dana", "topic": "name", "turn_ids": [1]},
        {"type": "preference", "content": "The user is vegetarian", "topic": "diet",
         "turn_ids": [1, 8]},
        {"type": "fact", "content": "The user lives in Lisbon", "topic": "home", "turn_ids": [1]},
        {"type": "task", "content": "Book the dentist for next week", "topic": None,
         "turn_ids": [3]},
        {"type": "preference", "content": "The user's favourite colour is green",
         "topic": "favourite-colour", "turn_ids": [6]},
        {"type": "instruction", "content": "Answer in English", "topic": "language",
         "turn_ids": [6]},
        {"type": "fact", "content": "The user lives in Porto", "topic": "home", "turn_ids": [7]},
    ]
}  # fmt: skip
"""The scripted model's answer to the whole conversation."""


class _ScriptedChat:
    """A loopback chat-completions server giving the answer of :data:`SCRIPT` (a stand-in
    for a model: none can run here)."""

    def __init__(self) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                outer.requests += 1
                body = {"choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant",
                                                 "content": json.dumps(SCRIPT)}}]}  # fmt: skip
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def render(result: Any) -> str:
    """The report as a Markdown table."""
    lines = [
        "| turn | action | type | topic | memory / reason |",
        "| --- | --- | --- | --- | --- |",
    ]
    contents = {m.id: m.content for m in result.memories}
    for o in result.report:
        if o.action == "SKIP":
            lines.append(f"| {o.turn} | SKIP | | | {o.reason} |")
            continue
        what = contents.get(o.memory_id, o.memory_id)
        if o.superseded:
            what += f" (replaces {', '.join(contents.get(s, s) for s in o.superseded)})"
        lines.append(f"| {o.turn} | {o.action} | {o.type} | {o.topic or ''} | {what} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import memoturn
    from memoturn.models import ChatExtractor

    chat = _ScriptedChat()
    extractor = ChatExtractor(chat.url, "scripted", location="self_hosted")
    out = sys.stdout
    try:
        with tempfile.TemporaryDirectory() as d, memoturn.open(d, extractor=extractor) as eng:
            eng.create_namespace("demo")
            for name in ("rules", "chat"):
                eng.create_profile("demo", name)
                eng.profile("demo", name).append_turns(
                    "s1", [{"role": r, "content": c} for r, c in CONVERSATION]
                )
            started = time.perf_counter()
            rules = eng.profile("demo", "rules").extract("s1", extractor="rules")
            rules_ms = (time.perf_counter() - started) * 1000
            took = f"{rules_ms:.0f} ms for 8 turns, embedding included"
            print(f"## The in-process rule extractor ({took})\n", file=out)
            print(render(rules), file=out)
            chat_profile = eng.profile("demo", "chat")
            preview = chat_profile.extract("s1", preview=True)
            print(f"\n## The chat extractor, scripted answer, as a preview on {preview.branch}",
                  file=out)  # fmt: skip
            print(f"\n{render(preview)}", file=out)
            applied = chat_profile.extract_apply("s1", preview.branch)
            again = chat_profile.extract("s1")
            print(
                f"\napplied to main: {len(applied.report)} report lines, "
                f"{len(chat_profile.list_memories().memories)} current memories, "
                f"model requests {chat.requests} (the apply calls no model); "
                f"run again: {len(again.report)} lines, txid {again.txid} unchanged "
                f"({applied.txid})",
                file=out,
            )
    finally:
        chat.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
