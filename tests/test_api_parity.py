"""One API: every operation of memoturn.core.api on every edge, under the same name, with
the same parameters (the way httpx tests its exported names for equality)."""

from __future__ import annotations

import argparse
import inspect
import subprocess
import sys

import pytest

import memoturn
from memoturn.client import AsyncClient, AsyncProfile, Client, Profile
from memoturn.core.api import NODE_OPERATIONS, PROFILE_OPERATIONS, NodeAPI, ProfileAPI
from memoturn.engine import Engine, ProfileHandle
from memoturn.http.app import create_app
from memoturn.mcp.tools import NOT_TOOLS, TOOL_OPERATIONS, TOOLS

CLIENT_ONLY = {"health", "mint_token", "gc", "audit_events", "profile", "close", "aclose"}
"""Client calls that are not engine operations: tokens are the REST edge's, a GC run on
demand is administration (in process: ``Engine.gc``), and the audit stream is read from the
store by any node (in process: ``Engine.audit``)."""


def public(cls: type) -> set[str]:
    return {n for n, v in inspect.getmembers(cls) if not n.startswith("_") and callable(v)}


def parameters(fn: object) -> list[tuple[str, object, object]]:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    return [(p.name, p.kind, p.default) for p in sig.parameters.values() if p.name != "self"]


def test_the_operation_lists_are_not_empty_and_distinct() -> None:
    assert len(PROFILE_OPERATIONS) >= 27 and len(NODE_OPERATIONS) >= 13
    assert not set(PROFILE_OPERATIONS) & set(NODE_OPERATIONS)


@pytest.mark.parametrize("edge", [ProfileHandle, Profile, AsyncProfile])
def test_every_profile_edge_has_exactly_the_profile_operations(edge: type) -> None:
    assert public(edge) == set(PROFILE_OPERATIONS)
    for name in PROFILE_OPERATIONS:
        assert parameters(getattr(edge, name)) == parameters(getattr(ProfileAPI, name)), name


@pytest.mark.parametrize("edge", [Profile, AsyncProfile])
def test_sdk_handles_return_what_the_engine_returns(edge: type) -> None:
    for name in PROFILE_OPERATIONS:
        ours = inspect.signature(getattr(edge, name)).return_annotation
        theirs = inspect.signature(getattr(ProfileAPI, name)).return_annotation
        assert ours == theirs, name


def test_async_methods_are_coroutines_and_sync_ones_are_not() -> None:
    for name in PROFILE_OPERATIONS:
        assert inspect.iscoroutinefunction(getattr(AsyncProfile, name)), name
        assert not inspect.iscoroutinefunction(getattr(Profile, name)), name
    for name in NODE_OPERATIONS:
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name)), name


@pytest.mark.parametrize("edge", [Engine, Client, AsyncClient])
def test_every_node_edge_has_the_node_operations(edge: type) -> None:
    for name in NODE_OPERATIONS:
        assert hasattr(edge, name), f"{edge.__name__} lacks {name}"
        assert parameters(getattr(edge, name)) == parameters(getattr(NodeAPI, name)), name


@pytest.mark.parametrize("edge", [Client, AsyncClient])
def test_the_clients_offer_nothing_beyond_the_operations(edge: type) -> None:
    assert public(edge) - set(NODE_OPERATIONS) - CLIENT_ONLY == set()


def test_no_handle_forwards_by_name() -> None:
    for edge in (ProfileHandle, Profile, AsyncProfile, Client, AsyncClient):
        assert "__getattr__" not in vars(edge), edge
    # maintenance is the engine's, never the handle's
    for name in ("close", "sweep", "embed_pending", "pending_embeddings"):
        assert not hasattr(ProfileHandle, name)


def test_every_operation_is_a_rest_route_named_after_it() -> None:
    doc = _openapi()
    operation_ids = {op["operationId"] for path in doc["paths"].values() for op in path.values()}
    assert set(PROFILE_OPERATIONS) | set(NODE_OPERATIONS) <= operation_ids


def test_every_operation_is_an_mcp_tool_or_says_why_not() -> None:
    tools = set(TOOL_OPERATIONS.values())
    ops = set(PROFILE_OPERATIONS) | set(NODE_OPERATIONS)
    assert tools <= ops, "a tool names an operation that does not exist"
    assert ops - tools == set(NOT_TOOLS), "every operation without a tool says why"
    assert len({t.name for t in TOOLS}) == len(TOOLS)


def test_importing_the_sdk_loads_no_server_part() -> None:
    code = (
        "import sys, memoturn, memoturn.client; "
        "heavy = [m for m in ('apsw', 'numpy', 'onnxruntime', 'obstore', 'cryptography', "
        "'tokenizers', 'jwt', 'fastapi', 'uvicorn', 'memoturn.engine', 'memoturn.storage', "
        "'memoturn.profile') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_engine_is_still_one_attribute_away() -> None:
    assert memoturn.Engine is Engine
    with pytest.raises(AttributeError):
        _ = memoturn.NoSuchThing  # type: ignore[attr-defined]


def _openapi() -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as d, memoturn.open(d) as engine:
        return create_app(engine, write_root_token=False).openapi()


CLI_OPERATIONS = {
    ("ns", "create"): "create_namespace",
    ("ns", "list"): "list_namespaces",
    ("profile", "create"): "create_profile",
    ("profile", "list"): "list_profiles",
    ("profile", "delete"): "delete_profile",
    ("token", "revoke"): "revoke_tokens",
    ("ingest",): "ingest",
    ("recall",): "recall",
    ("memories", "list"): "list_memories",
    ("memories", "get"): "get_memory",
    ("memories", "forget"): "forget",
    ("sessions", "list"): "list_sessions",
    ("sessions", "show"): "read_turns",
    ("kv", "list"): "kv_list",
    ("documents", "list"): "list_documents",
    ("vectors", "list"): "list_collections",
    ("checkpoint", "create"): "create_checkpoint",
    ("checkpoint", "list"): "list_checkpoints",
    ("checkpoint", "delete"): "delete_checkpoint",
    ("rewind",): "rewind",
    ("branch", "create"): "create_branch",
    ("branch", "list"): "list_branches",
    ("branch", "delete"): "delete_branch",
    ("policy", "get"): "get_policy",
    ("policy", "set"): "set_policy",
    ("diff",): "diff",
    ("extract",): "extract",
    ("profile", "create-many"): "create_profiles",
}
"""The CLI where it applies: every node operation, and reading what a profile holds."""


def test_the_cli_maps_onto_the_operations() -> None:
    from memoturn import cli

    parser = cli.build_parser()
    for path, op in CLI_OPERATIONS.items():
        assert op in set(PROFILE_OPERATIONS) | set(NODE_OPERATIONS), op
        sub = parser
        for word in path:
            choices = next(
                a.choices for a in sub._actions if isinstance(a, argparse._SubParsersAction)
            )
            sub = choices[word]  # KeyError: the command is missing
    covered = set(CLI_OPERATIONS.values()) | {"get_profile_policy", "set_profile_policy"}
    assert set(NODE_OPERATIONS) <= covered  # policy get/set NS/PROFILE are the profile ones
