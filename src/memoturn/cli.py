"""The ``memoturn`` command: run a node (``serve``) and talk to one (everything else).

Client commands find the node at ``--url`` / ``MEMOTURN_URL`` (default
http://127.0.0.1:8765) and authenticate with ``--token`` / ``MEMOTURN_TOKEN``, else the root
token file of ``--data`` / ``MEMOTURN_DATA`` (default ``./.memoturn``). A profile is named
``NS/PROFILE``. ``--json`` prints machine-readable output. Errors go to stderr with a hint;
the exit status is 1 (2 for a usage error).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from memoturn import (
    __version__,
    cli_extract,
    cli_inspector,
    cli_reembed,
    erasure_cli,
    governance_cli,
    verify_cli,
)
from memoturn.core.errors import Conflict, InvalidInput, MemoturnError, Unauthorized
from memoturn.core.model import Record, iso
from memoturn.engine.tokens import ROOT_TOKEN_FILE, signing_seed_from

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_DATA = ".memoturn"


log = logging.getLogger("memoturn.cli")


class PortInUse(Conflict):
    """``memoturn serve`` cannot listen where it was told to."""


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"MEMOTURN_{name}", default)


def _advertised(advertise: str | None, host: str, port: int) -> str:
    """The address written into this node's writer leases: where other nodes forward
    writes. Empty (no forwarding: writers elsewhere get a 503) when the node listens on
    every interface and was not told which address the others can reach."""
    if advertise:
        if not advertise.startswith(("http://", "https://")):
            raise InvalidInput(
                f"--advertise must be an http:// or https:// URL, got {advertise!r}",
                hint="e.g. --advertise http://10.0.0.7:8765",
            )
        return advertise.rstrip("/")
    if host in ("0.0.0.0", "::", ""):
        log.warning(
            "listening on every interface without --advertise: other nodes cannot forward "
            "writes here (they answer 503 naming this node instead)"
        )
        return ""
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


def _parser(
    sub: argparse._SubParsersAction, name: str, summary: str, example: str, **kw: Any
) -> argparse.ArgumentParser:
    return sub.add_parser(
        name,
        help=summary,
        description=summary,
        epilog="example:\n  " + example.strip().replace("\n", "\n  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kw,
    )


def _client_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection")
    group.add_argument("--url", default=None, help="node URL (MEMOTURN_URL; http://127.0.0.1:8765)")
    group.add_argument("--token", default=None, help="bearer token (MEMOTURN_TOKEN)")
    group.add_argument(
        "--data",
        default=None,
        help="data dir whose root.token to use when no token is given (MEMOTURN_DATA; ./.memoturn)",
    )
    group.add_argument("--json", action="store_true", help="print JSON")
    return common


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value

    return parse


def _branch(p: argparse.ArgumentParser) -> None:
    p.add_argument("--branch", default="main", help="branch to act on (default: main)")


def _profile_ref(value: str) -> tuple[str, str]:
    ns, sep, name = value.partition("/")
    if not sep or not ns or not name:
        raise argparse.ArgumentTypeError(f"expected NS/PROFILE, e.g. acme/alice; got {value!r}")
    return ns, name


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="memoturn",
        description="Memoturn: memory for AI agents. Run a node, or talk to one.",
        epilog="Run `memoturn COMMAND --help` for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"memoturn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = _client_options()

    s = _parser(
        sub,
        "serve",
        "Start a node: the REST API on HOST:PORT, data under --data.",
        "memoturn serve --data .memoturn --port 8765",
    )
    s.add_argument("--data", default=_env("DATA", DEFAULT_DATA), help="data dir (MEMOTURN_DATA)")
    s.add_argument("--host", default=_env("HOST", DEFAULT_HOST), help="MEMOTURN_HOST")
    s.add_argument(
        "--port", type=int, default=int(_env("PORT", str(DEFAULT_PORT)) or 0), help="MEMOTURN_PORT"
    )
    s.add_argument(
        "--object-store",
        default=_env("OBJECT_STORE"),
        help="file:///path, memory:// or s3://bucket/prefix (MEMOTURN_OBJECT_STORE); "
        "default: a local store under --data",
    )
    s.add_argument(
        "--s3-endpoint", default=_env("S3_ENDPOINT"), help="S3 endpoint URL (MEMOTURN_S3_ENDPOINT)"
    )
    s.add_argument(
        "--hibernate-after",
        type=float,
        default=_env("HIBERNATE_AFTER"),
        help="idle seconds before a profile hibernates (MEMOTURN_HIBERNATE_AFTER; 300)",
    )
    s.add_argument(
        "--memory-budget",
        type=float,
        default=_env("MEMORY_BUDGET"),
        metavar="MIB",
        help="MiB of open profiles to keep; past it the least recently used idle ones "
        "hibernate (MEMOTURN_MEMORY_BUDGET; default no bound)",
    )
    s.add_argument(
        "--durability",
        choices=["object", "local"],
        default=_env("DURABILITY") or "object",
        help="object: acknowledge a write once it is in the object store (default); local: "
        "once it is fsynced locally, shipping in the background (see docs/storage.md for "
        "the window of loss) (MEMOTURN_DURABILITY)",
    )
    s.add_argument(
        "--advertise",
        default=_env("ADVERTISE"),
        metavar="URL",
        help="the URL other nodes reach this one at; they forward writes here while this "
        "node holds a profile's writer lease (MEMOTURN_ADVERTISE; default http://HOST:PORT, "
        "none when HOST is 0.0.0.0 or ::, e.g. http://$POD_IP:8765 on Kubernetes)",
    )
    s.add_argument(
        "--min-txid-wait",
        type=float,
        default=float(_env("MIN_TXID_WAIT", "5") or 5),
        help="longest wait of a read for its min_txid, seconds (MEMOTURN_MIN_TXID_WAIT; 5)",
    )
    s.add_argument(
        "--header-timeout",
        type=_positive(float),
        default=_env("HEADER_TIMEOUT", "10"),
        metavar="S",
        help="close a connection that sends no complete request headers within S seconds of "
        "opening or of its previous answer (MEMOTURN_HEADER_TIMEOUT; 10)",
    )
    s.add_argument(
        "--body-timeout",
        type=_positive(float),
        default=_env("BODY_TIMEOUT", "30"),
        metavar="S",
        help="answer 408 to a request whose body does not arrive within S seconds "
        "(MEMOTURN_BODY_TIMEOUT; 30)",
    )
    s.add_argument(
        "--keep-alive-timeout",
        type=_positive(float),
        default=_env("KEEP_ALIVE_TIMEOUT", "5"),
        metavar="S",
        help="close an idle keep-alive connection after S seconds (MEMOTURN_KEEP_ALIVE_TIMEOUT; 5)",
    )
    s.add_argument(
        "--max-connections",
        type=_positive(int),
        default=_env("MAX_CONNECTIONS", "1000"),
        metavar="N",
        help="answer 503 to new requests while N connections are open "
        "(MEMOTURN_MAX_CONNECTIONS; 1000)",
    )
    s.add_argument(
        "--log-level",
        default=_env("LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
        help="MEMOTURN_LOG_LEVEL",
    )
    cli_extract.add_serve_options(s)
    s.set_defaults(run=_serve)

    ns = _parser(sub, "ns", "Namespaces (root token).", "memoturn ns create acme")
    ns_sub = ns.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _parser(
        ns_sub, "create", "Create a namespace.", "memoturn ns create acme", parents=[common]
    )
    p.add_argument("name")
    p.set_defaults(run=lambda c, a: c.create_namespace(a.name), show=_created("namespace"))
    p = _parser(ns_sub, "list", "List namespaces.", "memoturn ns list", parents=[common])
    p.set_defaults(run=lambda c, a: c.list_namespaces(), show=_lines)

    pr = _parser(sub, "profile", "Profiles of a namespace.", "memoturn profile create acme/alice")
    pr_sub = pr.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _parser(
        pr_sub,
        "create",
        "Provision a profile (namespace or root token).",
        "memoturn profile create acme/alice",
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.set_defaults(run=lambda c, a: c.create_profile(*a.profile), show=_created("profile"))
    p = _parser(
        pr_sub,
        "create-many",
        "Provision up to 10,000 profiles in one metadata write (namespace or root token).",
        "memoturn profile create-many acme alice bob\n"
        "memoturn profile create-many acme --file names.txt",
        parents=[common],
    )
    p.add_argument("namespace")
    p.add_argument("names", nargs="*", metavar="NAME", help="profile names")
    p.add_argument(
        "--file", type=argparse.FileType("r"), help="one name a line ('-' reads standard input)"
    )
    p.set_defaults(
        run=lambda c, a: c.create_profiles(a.namespace, _batch_names(a)),
        show=lambda r: f"{len(r.created)} created, {len(r.existing)} existed already",
    )
    p = _parser(
        pr_sub, "list", "List the profiles of a namespace.", "memoturn profile list acme",
        parents=[common],
    )  # fmt: skip
    p.add_argument("namespace")
    p.add_argument("--limit", type=int, default=1000, help="at most N profiles (1000)")
    p.add_argument("--cursor", help="continue where the previous page ended")
    p.set_defaults(
        run=lambda c, a: c.list_profiles(a.namespace, limit=a.limit, cursor=a.cursor),
        show=lambda r: cli_inspector.rows(r.profiles, str, r.next_cursor),
    )
    p = _parser(
        pr_sub,
        "delete",
        "Delete a profile with all its branches and checkpoints.",
        "memoturn profile delete acme/alice",
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.add_argument("--yes", action="store_true", help="do not ask (needed when not on a terminal)")
    p.set_defaults(run=_delete_profile, show=_done("deleted"))

    tk = _parser(
        sub, "token", "Mint and revoke tokens.",
        "export MEMOTURN_TOKEN=$(memoturn token mint acme --profile alice --scope read)",
    )  # fmt: skip
    tk_sub = tk.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _parser(
        tk_sub,
        "mint",
        "Mint a token: a namespace token (root; no --profile) or a profile token. "
        "Prints the token.",
        "memoturn token mint acme --profile alice --branch main --scope read --ttl 3600",
        parents=[common],
    )
    p.add_argument("namespace")
    p.add_argument("--profile", help="mint a profile token for this profile")
    p.add_argument("--branch", help="lock the profile token to this branch")
    p.add_argument(
        "--scope", action="append", choices=["read", "write"], help="repeatable; default both"
    )
    p.add_argument("--ttl", type=int, help="lifetime in seconds (default: no expiry)")
    p.set_defaults(
        run=lambda c, a: c.mint_token(
            a.namespace, a.profile, branch=a.branch, scopes=a.scope, ttl_s=a.ttl
        ),
        show=lambda t: t.token,
    )
    p = _parser(
        tk_sub,
        "revoke",
        "Revoke every profile token of a profile minted so far.",
        "memoturn token revoke acme/alice",
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.set_defaults(
        run=lambda c, a: c.revoke_tokens(*a.profile), show=lambda e: f"revoked (epoch {e})"
    )

    p = _parser(
        sub,
        "ingest",
        "Store one memory. CONTENT '-' reads standard input.",
        'memoturn ingest acme/alice "Alice is vegetarian" --type preference --topic diet',
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.add_argument("content")
    p.add_argument(
        "--type",
        default="fact",
        choices=["fact", "preference", "task", "event", "instruction"],
        help="default: fact",
    )
    p.add_argument("--topic", help="supersedes the current memory on this topic")
    p.add_argument("--session", help="session id")
    p.add_argument("--source", help="which agent wrote it")
    p.add_argument("--ttl", type=int, help="expire after this many seconds")
    p.add_argument("--metadata", type=_json_object, help="a JSON object")
    _branch(p)
    p.set_defaults(run=_ingest, show=_show_ingest)

    p = _parser(
        sub,
        "recall",
        "Hybrid recall (keywords + embeddings) over a profile.",
        'memoturn recall acme/alice "what should I cook tonight?" -k 5',
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10, help="number of hits (default: 10)")
    p.add_argument("--type", action="append", dest="types", help="repeatable")
    p.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        choices=["memories", "transcript", "documents"],
        help="repeatable; default memories",
    )
    p.add_argument("--topic")
    p.add_argument("--session")
    p.add_argument("--history", action="store_true", help="include superseded memories")
    _branch(p)
    p.set_defaults(run=_recall, show=_show_recall)

    cp = _parser(
        sub, "checkpoint", "Named checkpoints of a branch.",
        "memoturn checkpoint create acme/alice before-import",
    )  # fmt: skip
    cp_sub = cp.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _parser(
        cp_sub,
        "create",
        "Pin the branch's current txid under a name.",
        "memoturn checkpoint create acme/alice before-import",
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.add_argument("name")
    _branch(p)
    p.set_defaults(
        run=lambda c, a: c.create_checkpoint(*a.profile, a.name, branch=a.branch),
        show=lambda cp: f"checkpoint {cp.name} at txid {cp.txid}",
    )
    p = _parser(
        cp_sub, "list", "List a branch's checkpoints.", "memoturn checkpoint list acme/alice",
        parents=[common],
    )  # fmt: skip
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    _branch(p)
    p.set_defaults(
        run=lambda c, a: c.list_checkpoints(*a.profile, branch=a.branch),
        show=_rows(lambda c: f"{c.name}\ttxid {c.txid}\t{iso(c.created_at)}"),
    )
    p = _parser(
        cp_sub,
        "delete",
        "Delete a checkpoint.",
        "memoturn checkpoint delete acme/alice before-import",
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.add_argument("name")
    _branch(p)
    p.set_defaults(
        run=lambda c, a: c.delete_checkpoint(*a.profile, a.name, branch=a.branch),
        show=_done("deleted"),
    )

    p = _parser(
        sub,
        "rewind",
        "Atomically return a branch to a checkpoint or a txid (undoable).",
        "memoturn rewind acme/alice --checkpoint before-import",
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--checkpoint")
    target.add_argument("--txid", type=int)
    _branch(p)
    p.set_defaults(
        run=lambda c, a: c.rewind(
            *a.profile, branch=a.branch, checkpoint=a.checkpoint, txid=a.txid
        ),
        show=lambda r: f"rewound; head txid {r.txid}; undo with --checkpoint {r.undo_checkpoint}",
    )

    br = _parser(
        sub, "branch", "Branches of a profile.", "memoturn branch create acme/alice experiment"
    )
    br_sub = br.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = _parser(
        br_sub,
        "create",
        "Fork a branch from the head, a checkpoint or a txid (metadata only).",
        "memoturn branch create acme/alice experiment --from-checkpoint before-import --ttl 3600",
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.add_argument("name")
    p.add_argument("--from", dest="from_branch", default="main", help="source branch (main)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--from-checkpoint")
    source.add_argument("--from-txid", type=int)
    p.add_argument("--ttl", type=int, help="a burner branch: removed after this many seconds")
    p.set_defaults(
        run=lambda c, a: c.create_branch(
            *a.profile,
            a.name,
            from_branch=a.from_branch,
            from_checkpoint=a.from_checkpoint,
            from_txid=a.from_txid,
            ttl_s=a.ttl,
        ),
        show=lambda b: f"branch {b.name} from {b.parent}@{b.parent_txid}",
    )
    p = _parser(
        br_sub, "list", "List a profile's branches.", "memoturn branch list acme/alice",
        parents=[common],
    )  # fmt: skip
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.set_defaults(
        run=lambda c, a: c.list_branches(*a.profile),
        show=_rows(
            lambda b: (
                f"{b.name}\ttxid {b.txid}"
                + (f"\tfrom {b.parent}@{b.parent_txid}" if b.parent else "")
                + (f"\texpires {iso(b.expires_at)}" if b.expires_at else "")
            )
        ),
    )
    p = _parser(
        br_sub, "delete", "Delete a branch.", "memoturn branch delete acme/alice experiment",
        parents=[common],
    )  # fmt: skip
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.add_argument("name")
    p.set_defaults(run=lambda c, a: c.delete_branch(*a.profile, a.name), show=_done("deleted"))

    cli_inspector.add_commands(sub, _parser, common, _profile_ref)
    governance_cli.add_commands(sub, common, _parser)
    erasure_cli.add_commands(sub, _parser)
    cli_reembed.add_commands(sub, _parser)
    verify_cli.add_commands(sub, _parser)
    _transfer_commands(sub, common)
    cli_extract.add_commands(sub, _parser, common, _profile_ref)

    _parser(
        sub,
        "bench",
        "Run the benchmark (see `memoturn bench --help`).",
        "memoturn bench",
        add_help=False,
    )
    _parser(
        sub,
        "mcp",
        "Serve the memory tools to an MCP client over stdio (see `memoturn mcp --help`).",
        "memoturn mcp --url http://127.0.0.1:8765 --token $TOKEN",
        add_help=False,
    )
    _parser(
        sub,
        "eval",
        "Measure recall quality on a public benchmark (see `memoturn eval locomo --help`).",
        "memoturn eval locomo --data ../shared/data/locomo10.json",
        add_help=False,
    )
    return parser


def _transfer_commands(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    from memoturn import cli_transfer

    p = _parser(
        sub,
        "export",
        "Write a whole profile-branch as JSON Lines (memories with their history, sessions "
        "and turns, KV keys, documents, vectors); see docs/cli.md for the format.",
        "memoturn export acme/alice -o alice.jsonl",
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    _branch(p)
    p.set_defaults(run=cli_transfer.export, show=cli_transfer.show_export)
    p = _parser(
        sub,
        "import",
        "Load an export into an empty profile-branch, as one transaction. FILE '-' reads "
        "standard input.",
        "memoturn profile create acme/alice2 && memoturn import acme/alice2 alice.jsonl",
        parents=[common],
    )
    p.add_argument("profile", type=_profile_ref, metavar="NS/PROFILE")
    p.add_argument("file", metavar="FILE")
    _branch(p)
    p.set_defaults(run=cli_transfer.import_, show=cli_transfer.show_import)


# -- client commands ------------------------------------------------------------------------


def _delete_profile(client: Any, a: argparse.Namespace) -> None:
    """Delete a profile after a yes on the terminal, or with --yes."""
    ns, name = a.profile
    if not a.yes:
        if not sys.stdin.isatty():
            raise InvalidInput(
                f"not deleting {ns}/{name} without confirmation",
                hint="pass --yes to delete the profile with all its branches and checkpoints",
            )
        print(
            f"Delete {ns}/{name} with all its branches and checkpoints? [y/N] ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            raise InvalidInput(f"{ns}/{name} was not deleted", hint="answer y to delete it")
    client.delete_profile(ns, name)


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not JSON: {e}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object")
    return value


def _ingest(client: Any, a: argparse.Namespace) -> Any:
    content = sys.stdin.read() if a.content == "-" else a.content
    fields = {
        "topic": a.topic,
        "session_id": a.session,
        "source": a.source,
        "ttl_s": a.ttl,
        "metadata": a.metadata,
    }
    profile = client.profile(*a.profile, a.branch)
    return profile.ingest(a.type, content, **{k: v for k, v in fields.items() if v is not None})


def _recall(client: Any, a: argparse.Namespace) -> Any:
    options = {
        "k": a.k,
        "types": a.types,
        "scopes": a.scopes,
        "topic": a.topic,
        "session_id": a.session,
        "include_history": a.history or None,
    }
    profile = client.profile(*a.profile, a.branch)
    return profile.recall(a.query, **{k: v for k, v in options.items() if v is not None})


def _show_ingest(r: Any) -> str:
    note = " (duplicate: nothing written)" if r.duplicate else ""
    if r.superseded:
        note += f" (supersedes {', '.join(r.superseded)})"
    return f"{r.memory.id} txid {r.txid}{note}"


def _show_recall(r: Any) -> str:
    return (
        "\n".join(
            f"{h.score:.4f}\t{getattr(h.memory, 'type', h.scope)}\t{h.memory.content}"
            for h in r.results
        )
        or NO_RESULTS
    )


def _batch_names(args: argparse.Namespace) -> list[str]:
    names = list(args.names)
    if args.file is not None:
        names += [line.strip() for line in args.file if line.strip()]
    return names


def _created(what: str) -> Callable[[bool], str]:
    return lambda created: f"{what} created" if created else f"{what} exists already"


def _done(word: str) -> Callable[[Any], str]:
    return lambda _: word


NO_RESULTS = "(no results)"
"""What a list command prints when there is nothing to list."""


def _lines(items: Sequence[str]) -> str:
    return "\n".join(items) or NO_RESULTS


def _rows(line: Callable[[Any], str]) -> Callable[[Sequence[Any]], str]:
    return lambda items: "\n".join(line(i) for i in items) or NO_RESULTS


def _as_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [_as_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):  # e.g. the export command's summary
        return {k: _as_json(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def _run_client_command(args: argparse.Namespace) -> int:
    from memoturn.client import Client

    data = args.data or _env("DATA")
    with Client(args.url, args.token, data_dir=data) as client:
        if not client.token:
            looked = (Path(data or DEFAULT_DATA).resolve() / ROOT_TOKEN_FILE).as_posix()
            raise Unauthorized(
                f"no token: no --token, no MEMOTURN_TOKEN, and no token file at {looked}",
                hint="give one with --token TOKEN, or MEMOTURN_TOKEN=TOKEN, or --data DIR "
                "(MEMOTURN_DATA) naming the node's data dir, whose root.token is used",
            )
        result = args.run(client, args)
    if args.json:
        print(json.dumps(_as_json(result), indent=2, ensure_ascii=False))
    else:
        text = args.show(result)
        if text:
            print(text)
    return 0


# -- serve ----------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    import memoturn
    from memoturn.http import create_app
    from memoturn.http.live import ServerLimits, listening_socket

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    options: dict[str, Any] = {
        "min_txid_wait_s": args.min_txid_wait,
        "background": True,
        "durability": args.durability,
    }
    if args.s3_endpoint and not args.object_store:
        raise InvalidInput("--s3-endpoint needs --object-store s3://bucket/prefix")
    if args.object_store:
        from memoturn.storage.url import open_store

        options["object_store"] = open_store(args.object_store, endpoint=args.s3_endpoint)
    options.update(cli_extract.engine_options(args))
    if args.hibernate_after is not None:
        options["hibernate_after"] = float(args.hibernate_after)
    if args.memory_budget is not None:
        options["memory_budget_mib"] = float(args.memory_budget)
    seed = signing_seed_from(_env("SIGNING_KEY"))
    kek = signing_seed_from(_env("KEY_ENCRYPTION_KEY"), "MEMOTURN_KEY_ENCRYPTION_KEY")
    data = Path(args.data)
    if args.advertise:
        _advertised(args.advertise, args.host, args.port)  # a bad one fails before binding
    try:
        sock = listening_socket(args.host, args.port)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {args.port} on {args.host} is in use by another process; "
                "pick another with --port (or MEMOTURN_PORT)"
            ) from None
        raise PortInUse(
            f"cannot listen on {args.host}:{args.port}: {e.strerror}; check --host and --port"
        ) from None
    host, port = sock.getsockname()[:2]
    options["address"] = _advertised(args.advertise, host, port)
    engine = memoturn.open(data, **options)
    try:
        load_model = getattr(engine.embedder, "load", None)
        if load_model is not None:
            load_model()  # before the port answers: a startup probe waits for the model
        app = create_app(
            engine, signing_seed=seed, key_encryption_key=kek, body_timeout_s=args.body_timeout
        )
        print(f"Memoturn node listening on http://{host}:{port}", flush=True)
        print(f"root token: {(data / 'root.token').resolve()}", flush=True)
        print(f"token-signing key: from {app.state.node.tokens.key_source}", flush=True)
        limits = ServerLimits(
            header_timeout_s=args.header_timeout,
            keep_alive_s=args.keep_alive_timeout,
            max_connections=args.max_connections,
        )
        config = uvicorn.Config(
            app,
            log_level=args.log_level,
            access_log=False,
            lifespan="on",
            log_config=None,
            **limits.uvicorn_options(),
        )
        # uvicorn shuts down gracefully on SIGTERM, then re-raises it to the handler found
        # before it started: make that one a no-op so the engine is closed (profiles
        # hibernated, leases released) and the exit status is 0.
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        engine.close()
    return 0


# -- entry point ----------------------------------------------------------------------------

_EVAL_HELP = """usage: memoturn eval BENCHMARK [ARGS]

Measure recall quality on a public benchmark. Benchmarks:
  locomo    LoCoMo (long conversations): evidence recall at k = 5, 10, 25, 50, per
            category, for hybrid, keyword-only and vector-only recall
  relevance Memoturn's own labelled set: with recall's min_score, the share of
            unrelated questions that return nothing and of related ones that still
            find their memory (--fit refits the relevance model on the fit half)

examples:
  memoturn eval locomo --data ../shared/data/locomo10.json
  memoturn eval relevance
"""


def _eval(argv: list[str]) -> int:
    if argv[:1] == ["locomo"]:
        from memoturn.bench import locomo

        return int(locomo.main(argv[1:]) or 0)
    if argv[:1] == ["relevance"]:
        from memoturn.bench import relevance

        return int(relevance.main(argv[1:]) or 0)
    if argv[:1] in (["--help"], ["-h"]):
        print(_EVAL_HELP, end="")
        return 0
    print(_EVAL_HELP, end="", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from memoturn import bench

        return int(bench.main(argv[1:]) or 0)
    if argv[:1] == ["mcp"]:
        from memoturn.mcp import main as mcp_main

        return int(mcp_main(argv[1:]) or 0)
    if argv[:1] == ["eval"]:
        return _eval(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return args.run(args)
        if getattr(args, "standalone", None) is not None:  # needs no node (audit verify)
            return int(args.standalone(args))
        return _run_client_command(args)
    except MemoturnError as e:
        print(f"error: {e.message}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
