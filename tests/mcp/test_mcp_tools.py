"""The pure tool layer and docs/mcp.md: schemas, bindings, token claims, tested docs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema.validators import Draft202012Validator

from memoturn.core.errors import InvalidInput
from memoturn.engine.tokens import NAMESPACE, PROFILE, ROOT, Grant
from memoturn.mcp import TOOL_NAMES
from memoturn.mcp.backends import unverified_claims
from memoturn.mcp.command import build_parser
from memoturn.mcp.tools import TOOLS, Binding, bind
from memoturn.mcp.tools.base import check_arguments

ROOT_DIR = Path(__file__).resolve().parents[2]
DOC = (ROOT_DIR / "docs" / "mcp.md").read_text()

BINDINGS = [
    Binding("acme", "alice"),
    Binding("acme"),
    Binding("acme", "alice", branch="b1", scopes=frozenset({"read"})),
]


@pytest.mark.parametrize("binding", BINDINGS)
def test_every_schema_is_valid_json_schema(binding) -> None:
    for tool in TOOLS:
        schema = tool.input_schema(binding)
        Draft202012Validator.check_schema(schema)
        assert set(schema["required"]) <= set(schema["properties"])
        assert ("profile" in schema["properties"]) == (binding.profile is None)


def test_binding_follows_the_token() -> None:
    assert bind(Grant(PROFILE, "acme", "alice")) == Binding("acme", "alice")
    assert bind(Grant(PROFILE, "acme", "alice"), profile="bob").profile == "bob"
    assert bind(Grant(NAMESPACE, "acme")) == Binding("acme", None)
    assert bind(Grant(ROOT), "acme", "alice") == Binding("acme", "alice")
    with pytest.raises(InvalidInput) as e:
        bind(Grant(ROOT))
    assert "--namespace" in e.value.hint


def test_argument_checks_name_the_argument() -> None:
    schema = TOOLS[1].input_schema(Binding("acme", "alice"))  # memory_recall
    assert check_arguments(schema, {"query": "x", "k": 5.0, "topic": None}) == {
        "query": "x",
        "k": 5,
    }
    for args, message in [
        ({"query": "x", "k": True}, "k must be an integer, got a boolean"),
        ({"query": "x", "types": ["fact", 3]}, "types[1] must be a string, got a"),
        ({"query": "x", "scopes": ["web"]}, "scopes[0] must be one of memories"),
        ({"query": 1}, "query must be a string, got a number"),
        ({}, "missing required field: query"),
    ]:
        with pytest.raises(InvalidInput, match=re.escape(message)):
            check_arguments(schema, args)


def test_unverified_claims_shape_a_remote_session(node) -> None:
    node.provision("claims", "alice")
    token = node.token("claims", "alice", branch="main", scopes=["read"])
    claims = unverified_claims(token)
    grant = node.authority.verify(token)
    assert (claims.kind, claims.namespace, claims.profile, claims.branch, claims.scopes) == (
        grant.kind,
        grant.namespace,
        grant.profile,
        grant.branch,
        grant.scopes,
    )
    assert unverified_claims(node.token("claims")).kind == NAMESPACE
    with pytest.raises(InvalidInput):
        unverified_claims("not.a-token")


def test_the_page_documents_every_tool() -> None:
    table = DOC.split("## The tools", 1)[1]
    assert re.findall(r"^\| `([a-z_]+)` \|", table, re.M) == list(TOOL_NAMES)


def test_the_pages_client_configurations_are_valid() -> None:
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC, re.S)]
    servers = [b["mcpServers"]["memoturn"] for b in blocks if "mcpServers" in b]
    stdio = [s for s in servers if "command" in s]
    assert len(stdio) == 2 and all(s["command"].endswith("/memoturn") for s in stdio)
    for s in stdio:
        assert s["args"][0] == "mcp"
        build_parser().parse_args(s["args"][1:])  # every flag exists
    assert any(s.get("url", "").endswith("/mcp") for s in servers)


def test_the_pages_python_example_runs(node, monkeypatch, capsys) -> None:
    node.provision("docs", "alice")
    monkeypatch.setenv("MEMOTURN_URL", node.url)
    monkeypatch.setenv("MEMOTURN_TOKEN", node.token("docs", "alice"))
    code = re.search(r"```python\n(.*?)```", DOC, re.S)
    assert code is not None
    exec(compile(code.group(1), "docs/mcp.md", "exec"), {"__name__": "docs"})
    assert capsys.readouterr().out == "Alice is vegan\n"
