"""``memoturn memories|sessions|kv|documents|vectors``: look inside one profile from the shell.

Each command is one SDK call (one REST route): what it prints is what the token may see.
Lists print one row per item, ``(no results)`` when there is none, and the cursor of the
next page when there is one (``--cursor`` continues; ``--json`` prints the whole answer).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from memoturn.core.model import (
    CollectionPage,
    DocumentPage,
    KVPage,
    KVSpacePage,
    Memory,
    MemoryDiff,
    MemoryPage,
    MemoryResult,
    SessionPage,
    TurnPage,
    iso,
)

NO_RESULTS = "(no results)"

Parser = Callable[..., argparse.ArgumentParser]


def rows(items: Sequence[Any], line: Callable[[Any], str], next_cursor: str | None = None) -> str:
    """One line per item, ``(no results)`` for none, and how to get the next page."""
    out = [line(i) for i in items] or [NO_RESULTS]
    if next_cursor is not None:
        out.append(f"(more: --cursor {next_cursor})")
    return "\n".join(out)


def _memory_line(m: Memory) -> str:
    state = "" if m.valid_to is None else f"\t[{m.forgotten_reason or 'superseded'}]"
    topic = f"\t#{m.topic}" if m.topic else ""
    return f"{m.id}\t{m.type}{topic}\t{m.content}{state}"


def _memory_detail(r: MemoryResult) -> str:
    m = r.memory
    fields = [
        ("id", m.id),
        ("type", m.type),
        ("content", m.content),
        ("topic", m.topic),
        ("session", m.session_id),
        ("source", m.source),
        ("metadata", m.metadata or None),
        ("created", iso(m.created_at)),
        ("valid to", iso(m.valid_to)),
        ("superseded by", m.superseded_by),
        ("forgotten", m.forgotten_reason),
        ("expires", iso(m.expires_at)),
        ("from turns", m.turn_ids or None),
        ("txid", m.txid),
    ]
    return "\n".join(f"{k}:\t{v}" for k, v in fields if v is not None)


def _show_diff(d: MemoryDiff) -> str:
    a, b = d.from_point, d.to_point
    out = [f"from {a.spec} ({a.branch}@{a.txid}) to {b.spec} ({b.branch}@{b.txid})"]
    out += [f"+ {_memory_line(m)}" for m in d.added]
    out += [f"- {_memory_line(m)}" for m in d.removed]
    for c in d.changed:
        out.append(f"~ {_memory_line(c.after)}\t(changed: {', '.join(c.fields)})")
    if len(out) == 1:
        out.append("(no differences)")
    return "\n".join(out)


def add_commands(
    sub: argparse._SubParsersAction, parser: Parser, common: argparse.ArgumentParser, ref: Any
) -> None:
    """Add the inspector commands to the ``memoturn`` parser (``parser`` builds one
    subcommand the way cli.py does; ``ref`` parses NS/PROFILE)."""

    def target(p: argparse.ArgumentParser) -> None:
        p.add_argument("profile", type=ref, metavar="NS/PROFILE")
        p.add_argument("--branch", default="main", help="the branch to look at (main)")

    def paging(p: argparse.ArgumentParser, default: int = 100) -> None:
        p.add_argument("--limit", type=int, default=default, help=f"at most N rows ({default})")
        p.add_argument("--cursor", help="continue where the previous page ended")

    def handle(c: Any, a: argparse.Namespace) -> Any:
        return c.profile(*a.profile, a.branch)

    mem = parser(sub, "memories", "What a profile remembers.", "memoturn memories list acme/alice")
    mem_sub = mem.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = parser(
        mem_sub,
        "list",
        "List memories, oldest first (current ones unless --history).",
        "memoturn memories list acme/alice --type preference",
        parents=[common],
    )
    target(p)
    p.add_argument("--type", choices=["fact", "preference", "task", "event", "instruction"])
    p.add_argument("--topic")
    p.add_argument("--session")
    p.add_argument("--source")
    p.add_argument("--history", action="store_true", help="also superseded and forgotten ones")
    paging(p)

    def list_memories(c: Any, a: argparse.Namespace) -> MemoryPage:
        return handle(c, a).list_memories(
            type=a.type, topic=a.topic, session_id=a.session, source=a.source,
            include_history=a.history, limit=a.limit, cursor=a.cursor,
        )  # fmt: skip

    p.set_defaults(run=list_memories, show=lambda r: rows(r.memories, _memory_line, r.next_cursor))
    p = parser(
        mem_sub,
        "get",
        "Show one memory with its provenance and history fields.",
        "memoturn memories get acme/alice 01J...",
        parents=[common],
    )
    target(p)
    p.add_argument("id")
    p.set_defaults(run=lambda c, a: handle(c, a).get_memory(a.id), show=_memory_detail)
    p = parser(
        mem_sub,
        "forget",
        "Retire a memory from recall (history keeps a tombstone).",
        'memoturn memories forget acme/alice 01J... --reason "user asked"',
        parents=[common],
    )
    target(p)
    p.add_argument("id")
    p.add_argument("--reason", help="kept with the tombstone")
    p.set_defaults(
        run=lambda c, a: handle(c, a).forget(a.id, a.reason),
        show=lambda w: f"forgotten (txid {w.txid})" if w.count else "already retired",
    )

    ses = parser(sub, "sessions", "Sessions and transcripts.", "memoturn sessions list acme/alice")
    ses_sub = ses.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = parser(
        ses_sub, "list", "List sessions in id order.", "memoturn sessions list acme/alice",
        parents=[common],
    )  # fmt: skip
    target(p)
    paging(p)

    def session_line(s: Any) -> str:
        state = f"ended {iso(s.ended_at)}" if s.ended_at else "open"
        return f"{s.id}\tcreated {iso(s.created_at)}\t{state}"

    def list_sessions(c: Any, a: argparse.Namespace) -> SessionPage:
        return handle(c, a).list_sessions(limit=a.limit, cursor=a.cursor)

    p.set_defaults(run=list_sessions, show=lambda r: rows(r.sessions, session_line, r.next_cursor))
    p = parser(
        ses_sub,
        "show",
        "Print a session's transcript in order.",
        "memoturn sessions show acme/alice chat-42",
        parents=[common],
    )
    target(p)
    p.add_argument("session")
    paging(p, 1000)

    def read_turns(c: Any, a: argparse.Namespace) -> TurnPage:
        return handle(c, a).read_turns(a.session, limit=a.limit, cursor=a.cursor)

    p.set_defaults(
        run=read_turns,
        show=lambda r: rows(
            r.turns, lambda t: f"{t.turn}\t{t.name or t.role}\t{t.content}", r.next_cursor
        ),
    )

    kv = parser(sub, "kv", "KV spaces and keys.", "memoturn kv list acme/alice scratch")
    kv_sub = kv.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = parser(
        kv_sub,
        "list",
        "List the KV spaces, or the live keys of SPACE with their values.",
        "memoturn kv list acme/alice scratch --prefix plan/",
        parents=[common],
    )
    target(p)
    p.add_argument("space", nargs="?", help="omit to list the spaces")
    p.add_argument("--prefix", default="", help="only keys starting with this")
    paging(p)

    def list_kv(c: Any, a: argparse.Namespace) -> KVPage | KVSpacePage:
        if a.space is None:
            if a.prefix:
                raise SystemExit("memoturn kv list: --prefix needs a SPACE")
            return handle(c, a).kv_spaces(limit=a.limit, cursor=a.cursor)
        return handle(c, a).kv_list(a.space, prefix=a.prefix, limit=a.limit, cursor=a.cursor)

    def show_kv(r: KVPage | KVSpacePage) -> str:
        if isinstance(r, KVSpacePage):
            return rows(r.spaces, lambda s: f"{s.name}\t{s.keys} keys", r.next_cursor)
        return rows(r.items, lambda i: f"{i.key}\t{i.value!r}", r.next_cursor)

    p.set_defaults(run=list_kv, show=show_kv)

    doc = parser(sub, "documents", "Stored documents.", "memoturn documents list acme/alice")
    doc_sub = doc.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = parser(
        doc_sub, "list", "List documents (without content).",
        "memoturn documents list acme/alice", parents=[common],
    )  # fmt: skip
    target(p)
    paging(p)

    def list_documents(c: Any, a: argparse.Namespace) -> DocumentPage:
        return handle(c, a).list_documents(limit=a.limit, cursor=a.cursor)

    p.set_defaults(
        run=list_documents,
        show=lambda r: rows(
            r.documents,
            lambda d: f"{d.id}\t{d.title or '(untitled)'}\t{d.bytes} bytes\t{d.chunks} chunks",
            r.next_cursor,
        ),
    )

    vec = parser(sub, "vectors", "Raw vector collections.", "memoturn vectors list acme/alice")
    vec_sub = vec.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = parser(
        vec_sub, "list", "List vector collections.", "memoturn vectors list acme/alice",
        parents=[common],
    )  # fmt: skip
    target(p)
    paging(p)

    def list_collections(c: Any, a: argparse.Namespace) -> CollectionPage:
        return handle(c, a).list_collections(limit=a.limit, cursor=a.cursor)

    p.set_defaults(
        run=list_collections,
        show=lambda r: rows(
            r.collections, lambda v: f"{v.name}\t{v.dim} dims\t{v.count} vectors", r.next_cursor
        ),
    )

    p = parser(
        sub,
        "diff",
        "Compare the current memories of two points of history: + added, - removed, "
        "~ changed. A point is branch:NAME, checkpoint:[BRANCH/]NAME or txid:[BRANCH/]N.",
        "memoturn diff acme/alice --from checkpoint:before-import --to branch:main",
        parents=[common],
    )
    target(p)
    p.add_argument("--from", dest="from_", required=True, metavar="POINT")
    p.add_argument("--to", required=True, metavar="POINT")
    p.set_defaults(run=lambda c, a: handle(c, a).diff(a.from_, a.to), show=_show_diff)
