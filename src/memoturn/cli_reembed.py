"""``memoturn reembed NS/PROFILE --to MODEL``: re-embed a profile with another model.

It runs in this process on the node's data (``--data``, ``--object-store``), not through a
node: stop the node first, or run it against the shared object store from another data dir
(the profile's writer lease keeps two writers apart). Progress is kept in the profile, so
the same command resumes after Ctrl-C or a crash; the last step swaps the profile's model
name and dimension at once, after which nodes must embed with the new model.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable
from typing import Any

from memoturn.core.errors import InvalidInput
from memoturn.embed import Embedder

MODEL_HELP = (
    "`local` (the in-process default model) or MODULE:FACTORY, a function of an importable "
    "module that returns an embedder (e.g. mypkg.models:make_embedder)"
)


def load_model(spec: str) -> Embedder:
    """The embedder named by ``spec``: ``local`` or ``MODULE:FACTORY``."""
    if spec == "local":
        from memoturn.embed import default_embedder

        return default_embedder()
    module_name, sep, factory_name = spec.partition(":")
    if not sep or not module_name or not factory_name.isidentifier():
        raise InvalidInput(
            f"model {spec!r} is neither `local` nor MODULE:FACTORY",
            hint="e.g. --to local or --to mypkg.models:make_embedder",
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise InvalidInput(
            f"cannot import {module_name!r} for model {spec!r}: {e}",
            hint="check the module is on PYTHONPATH",
        ) from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise InvalidInput(f"{module_name} has no function {factory_name!r}")
    embedder = factory()
    missing = [a for a in ("name", "dim", "embed", "embed_query") if not hasattr(embedder, a)]
    if missing:
        raise InvalidInput(
            f"{spec} returned {type(embedder).__name__}, not an embedder (no {missing[0]})",
            hint="the factory must return an object with name, dim, embed and embed_query",
        )
    return embedder


def add_commands(sub: argparse._SubParsersAction, parser: Callable[..., Any]) -> None:
    p = parser(
        sub,
        "reembed",
        "Re-embed a profile's memories, turns and document chunks with another model, "
        "resumably; the last step makes it the profile's model.",
        "memoturn reembed acme/alice --to mypkg.models:make_embedder --data .memoturn",
    )
    p.add_argument("profile", metavar="NS/PROFILE")
    p.add_argument("--to", metavar="MODEL", help="the new model: " + MODEL_HELP)
    p.add_argument(
        "--from",
        dest="from_model",
        default="local",
        metavar="MODEL",
        help="the profile's model now (default: local)",
    )
    p.add_argument("--branch", default="main", help="branch to re-embed (default: main)")
    p.add_argument("--data", default=None, help="data dir (MEMOTURN_DATA; ./.memoturn)")
    p.add_argument("--object-store", default=None, help="file:///path or s3://...")
    p.add_argument("--s3-endpoint", default=None, help="S3 endpoint URL")
    p.add_argument("--batch", type=int, default=64, metavar="N", help="items per step (64)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--status", action="store_true", help="show progress, change nothing")
    what.add_argument(
        "--abort", action="store_true", help="drop the re-embedding under way; keep the model"
    )
    p.set_defaults(standalone=run)


def _line(status: Any) -> str:
    if status.target is None:
        return f"model {status.model} ({status.dim} dimensions); no re-embedding under way"
    share = 100.0 * status.done / status.total if status.total else 100.0
    return (
        f"re-embedding {status.model} ({status.dim}) -> {status.target} ({status.target_dim}): "
        f"{status.done}/{status.total} items ({share:.1f}%)"
    )


def run(a: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    import memoturn
    from memoturn.cli import _profile_ref

    try:
        ns, name = _profile_ref(a.profile)
    except argparse.ArgumentTypeError as e:
        raise InvalidInput(str(e)) from None
    if not (a.status or a.abort) and not a.to:
        raise InvalidInput("name the new model with --to MODEL", hint=MODEL_HELP)
    if a.batch < 1:
        raise InvalidInput("--batch must be at least 1")
    to = load_model(a.to) if a.to else None
    options: dict[str, Any] = {"embedder": load_model(a.from_model)}
    if a.object_store:
        from memoturn.storage.url import open_store

        options["object_store"] = open_store(a.object_store, endpoint=a.s3_endpoint)
    data = Path(a.data or os.environ.get("MEMOTURN_DATA", ".memoturn"))
    with memoturn.open(data, **options) as eng:
        if a.status:
            print(_line(eng.reembed_status(ns, name, branch=a.branch)))
            return 0
        if a.abort:
            print(_line(eng.reembed_abort(ns, name, branch=a.branch)))
            return 0
        assert to is not None
        stopping: list[bool] = []
        previous = signal.signal(signal.SIGINT, lambda signum, frame: stopping.append(True))
        try:
            status = eng.reembed(
                ns, name, to, branch=a.branch, batch=a.batch,
                progress=lambda s: print(_line(s), file=sys.stderr, flush=True),
                stop=lambda: bool(stopping),
            )  # fmt: skip
        finally:
            signal.signal(signal.SIGINT, previous)
    if status.target is not None:
        print(
            f"stopped: {status.done}/{status.total} items re-embedded, kept in the profile; "
            "run the same command to resume (or --abort)",
            file=sys.stderr,
        )
        return 130
    print(
        f"done: {ns}/{name} embeds with {status.model} ({status.dim} dimensions), "
        f"{status.total} items; run nodes with that model"
    )
    return 0
