"""``memoturn mcp``: serve the MCP tools over stdio, for Claude Desktop, Cursor and any
MCP-capable agent framework."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import anyio

from memoturn.core.errors import InvalidInput, MemoturnError
from memoturn.core.names import ROOT_TOKEN_FILE
from memoturn.engine import Engine
from memoturn.engine.tokens import ROOT, TokenAuthority
from memoturn.mcp.backends import EngineBackend, NodeBackend, unverified_claims
from memoturn.mcp.server import Caller, serve_stdio
from memoturn.mcp.tools import allowed_tools, bind

DESCRIPTION = """\
Serve Memoturn's memory tools over MCP on stdin/stdout, for any MCP client (Claude Desktop,
Cursor, agent frameworks). Two ways to reach the data:

  --url URL    talk to a running node through the SDK; the node checks the token
  --data DIR   open the data directory in this process (no node needed); the token is
               checked here exactly as the node would

The token decides what the session may touch. A profile token binds the session to its
profile (the default posture). A namespace token makes every tool take a 'profile'
argument, unless --profile names one. The root token needs --namespace (and --profile,
or a 'profile' argument on each call). With --data and no token, the root token of DIR is
used, and the profile named by --namespace/--profile is created if missing.
"""

EPILOG = """\
examples:
  # a node is running; the agent acts on acme/alice only
  memoturn mcp --url http://127.0.0.1:8765 --token "$(memoturn token mint acme --profile alice)"

  # no node: the data directory in process, as its root, on one profile
  memoturn mcp --data ~/.memoturn --namespace me --profile assistant

  # a namespace token: the agent names the profile of acme on each call
  MEMOTURN_URL=http://127.0.0.1:8765 MEMOTURN_TOKEN=$NS_TOKEN memoturn mcp

  # Claude Desktop (claude_desktop_config.json)
  {"mcpServers": {"memoturn": {"command": "memoturn",
     "args": ["mcp", "--url", "http://127.0.0.1:8765"],
     "env": {"MEMOTURN_TOKEN": "eyJ..."}}}}

environment: MEMOTURN_URL, MEMOTURN_TOKEN (defaults for --url, --token),
MEMOTURN_SIGNING_KEY (with --data, as for `memoturn serve`). Logs go to stderr.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memoturn mcp",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--url", help="a running node (MEMOTURN_URL; default http://127.0.0.1:8765)")
    where.add_argument("--data", metavar="DIR", help="open this data directory in process")
    parser.add_argument(
        "--token",
        help="bearer token (MEMOTURN_TOKEN; else the root token of --data, or of ./.memoturn)",
    )
    parser.add_argument("--namespace", metavar="NS", help="the namespace to act in")
    parser.add_argument("--profile", metavar="P", help="the one profile to act on")
    parser.add_argument(
        "--tools",
        metavar="LIST",
        help="offer only these tools, comma-separated (e.g. memory_ingest,memory_recall): a "
        "smaller tool list costs the model fewer tokens",
    )
    parser.add_argument(
        "--compact",
        action="store_true",
        help="agent-sized answers: recall hits as {id, content, score}, no null fields",
    )
    parser.add_argument(
        "--log-level", default="warning", choices=["debug", "info", "warning", "error"]
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``memoturn mcp`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit
    status (0 when the client closed the session, 1 on an error, 2 on a usage error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    except SystemExit as e:  # --help, or a usage error argparse has printed
        return int(e.code or 0)
    # stdout is the MCP wire: everything else goes to stderr.
    logging.basicConfig(
        stream=sys.stderr,
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        args.tools = allowed_tools(args.tools)  # a typo is refused before anything opens
        with _in_process(args) if args.data else _remote(args) as caller:
            # A client stops its server with SIGTERM: unwind, so the engine ships what is
            # pending and releases its leases.
            previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
            try:
                anyio.run(serve_stdio, caller)
            finally:
                signal.signal(signal.SIGTERM, previous)
    except MemoturnError as e:
        print(f"memoturn mcp: error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


@contextlib.contextmanager
def _remote(args: argparse.Namespace) -> Iterator[Caller]:
    from memoturn.client import Client

    with Client(args.url, args.token) as client:
        if client.token is None:
            raise InvalidInput(
                "no token", hint="pass --token or set MEMOTURN_TOKEN (mint one with "
                "`memoturn token mint NS --profile P`)",
            )  # fmt: skip
        binding = bind(
            unverified_claims(client.token), args.namespace, args.profile,
            tools=args.tools, compact=args.compact,
        )  # fmt: skip
        yield Caller(NodeBackend(client), binding)


@contextlib.contextmanager
def _in_process(args: argparse.Namespace) -> Iterator[Caller]:
    """The engine over ``DIR/store`` (the node's default local store). Its cache is private
    to this process, so it runs safely next to a node or another ``memoturn mcp`` on the same
    directory: writers coordinate through the store's leases, as nodes do."""
    import memoturn

    data = Path(args.data).expanduser()
    if (data / ROOT_TOKEN_FILE).exists() and not (data / "store").is_dir():
        raise InvalidInput(
            f"{data} has no local object store ({data / 'store'}): the node that wrote it keeps "
            "its data in another object store",
            hint="run `memoturn mcp --url URL` against that node instead",
        )
    data.mkdir(parents=True, exist_ok=True)
    cache = Path(tempfile.mkdtemp(prefix="memoturn-mcp-"))
    try:
        engine = memoturn.open(
            cache, object_store=(data / "store").resolve().as_uri(), background=True
        )
        try:
            yield _in_process_caller(engine, data, args)
        finally:
            engine.close()
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def _in_process_caller(engine: Engine, data: Path, args: argparse.Namespace) -> Caller:
    from memoturn.engine.tokens import signing_seed_from

    authority = TokenAuthority(
        engine, seed=signing_seed_from(os.environ.get("MEMOTURN_SIGNING_KEY"))
    )
    token = args.token or os.environ.get("MEMOTURN_TOKEN") or _read_token(data / ROOT_TOKEN_FILE)
    if token is None:
        # A directory no node has served yet: whoever can read it holds everything in it.
        token = authority.mint_root()
    grant = authority.verify(token)
    binding = bind(grant, args.namespace, args.profile, tools=args.tools, compact=args.compact)
    if grant.kind == ROOT and binding.profile is not None:
        engine.create_namespace(binding.namespace)
        engine.create_profile(binding.namespace, binding.profile)
    load = getattr(engine.embedder, "load", None)
    if load is not None:  # warm the model while the client connects
        threading.Thread(target=load, daemon=True, name="memoturn-embedder-load").start()
    return Caller(EngineBackend(engine, authority, lambda: authority.verify(token)), binding)


def _read_token(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
