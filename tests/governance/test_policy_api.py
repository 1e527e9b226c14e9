"""Policies over REST, the SDK and the CLI; one policy shared by two nodes on one store."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

import memoturn
from memoturn import cli
from memoturn.core.clock import ManualClock
from memoturn.core.errors import Forbidden, PolicyLoosens
from memoturn.core.policy import Policy
from memoturn.engine.governance import STALENESS_S
from memoturn.http import ThrowawayNode
from memoturn.storage.memory import MemoryStore

NS = "/v1/namespaces/gov"
P = NS + "/profiles/alice"
DEFAULT = Policy().to_dict()


@pytest.fixture(scope="module")
def node(tmp_path_factory, embedder) -> Iterator[ThrowawayNode]:
    data = tmp_path_factory.mktemp("node")
    with ThrowawayNode(data, embedder=embedder, clock=ManualClock()) as n:
        yield n


@pytest.fixture(scope="module")
def root(node) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=node.url, headers=_bearer(node.root_token)) as c:
        c.post("/v1/namespaces", json={"name": "gov"}).raise_for_status()
        for p in ("alice", "bob"):
            c.post(NS + "/profiles", json={"name": p}).raise_for_status()
        yield c


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(root: httpx.Client, **fields: object) -> str:
    return str(root.post(NS + "/tokens", json=fields).json()["token"])


def test_namespace_policy_defaults_then_replaced_by_root(root) -> None:
    assert root.get(NS + "/policy").json() == DEFAULT
    r = root.put(NS + "/policy", json={"retention_s": 3600, "ai_egress": "self_hosted"})
    assert r.status_code == 200, r.text
    want = {**DEFAULT, "retention_s": 3600, "ai_egress": "self_hosted"}
    assert r.json() == want
    assert root.get(NS + "/policy").json() == want
    # PUT replaces: what it omits goes back to the default
    assert root.put(NS + "/policy", json={"audit": False}).json() == DEFAULT


def test_only_root_sets_a_namespace_policy(root, node) -> None:
    ns_token = _token(root)
    profile_token = _token(root, profile="alice")
    with httpx.Client(base_url=node.url) as c:
        r = c.put(NS + "/policy", json={"audit": True}, headers=_bearer(ns_token))
        assert r.status_code == 403
        assert c.get(NS + "/policy", headers=_bearer(ns_token)).status_code == 200
        assert c.get(NS + "/policy", headers=_bearer(profile_token)).status_code == 403
        r = c.put(P + "/policy", json={"audit": True}, headers=_bearer(profile_token))
        assert r.status_code == 403
        # a profile token reads its own profile's policy, not another's
        assert c.get(P + "/policy", headers=_bearer(profile_token)).status_code == 200
        other = c.get(NS + "/profiles/bob/policy", headers=_bearer(profile_token))
        assert other.status_code == 403
    assert root.get(NS + "/policy").json() == DEFAULT


def test_override_tightens_and_a_loosening_is_refused_naming_the_field(root) -> None:
    root.put(NS + "/policy", json={"retention_s": 3600, "task_ttl_max_s": 600, "audit": True})
    r = root.put(P + "/policy", json={"retention_s": 60, "ai_egress": "deny"})
    assert r.status_code == 200, r.text
    got = root.get(P + "/policy").json()
    assert got == r.json()
    assert got["profile"] == {"retention_s": 60, "ai_egress": "deny"}
    assert got["namespace"]["retention_s"] == 3600
    assert got["effective"] == {
        **DEFAULT,
        "retention_s": 60,
        "task_ttl_max_s": 600,
        "ai_egress": "deny",
        "audit": True,
    }
    for field, value in [
        ("retention_s", 7200),
        ("retention_s", None),
        ("task_ttl_max_s", 601),
        ("audit", False),
        ("erasure_grace_s", 90000),
    ]:
        r = root.put(P + "/policy", json={"ai_egress": "deny", field: value})
        assert r.status_code == 400, (field, r.text)
        assert r.json()["error"]["code"] == "policy_loosens"
        assert r.json()["error"]["field"] == field
        assert field in r.json()["error"]["message"]
        assert root.get(P + "/policy").json() == got  # nothing changed
    # the namespace loosening later never loosens the profile beyond its override
    root.put(NS + "/policy", json={})
    assert root.get(P + "/policy").json()["effective"]["retention_s"] == 60
    root.put(P + "/policy", json={})
    assert root.get(P + "/policy").json()["effective"] == DEFAULT


@pytest.mark.parametrize(
    "body",
    [
        {"retention": 5},
        {"retention_s": 0},
        {"retention_s": "60"},
        {"retention_s": 1.5},
        {"task_ttl_max_s": -1},
        {"ai_egress": "everywhere"},
        {"audit": "yes"},
        {"audit": 1},
        [],
    ],
)
def test_bad_policies_are_400_and_change_nothing(root, body) -> None:
    before = root.get(NS + "/policy").json(), root.get(P + "/policy").json()
    for path in (NS + "/policy", P + "/policy"):
        r = root.put(path, json=body)
        assert r.status_code == 400, (path, body, r.text)
        assert r.json()["error"]["code"] == "invalid"
    assert (root.get(NS + "/policy").json(), root.get(P + "/policy").json()) == before


def test_unknown_namespace_or_profile_is_404(root) -> None:
    assert root.put("/v1/namespaces/nope/policy", json={}).status_code == 404
    assert root.get(NS + "/profiles/nobody/policy").status_code == 404


def test_sdk_and_cli(node, root, capsys) -> None:
    with memoturn.Client(node.url, node.root_token) as client:
        assert client.set_policy("gov", {"task_ttl_max_s": 300}).task_ttl_max_s == 300
        assert client.get_policy("gov").task_ttl_max_s == 300
        with pytest.raises(PolicyLoosens, match="task_ttl_max_s"):
            client.set_profile_policy("gov", "bob", {"task_ttl_max_s": 301})
        got = client.set_profile_policy("gov", "bob", {"task_ttl_max_s": 30})
        assert got.effective.task_ttl_max_s == 30 and got.profile == {"task_ttl_max_s": 30}
        assert client.get_profile_policy("gov", "bob") == got
        bob = _token(root, profile="bob")
    with memoturn.Client(node.url, bob) as client, pytest.raises(Forbidden):
        client.set_policy("gov", {})
    args = ["--url", node.url, "--token", node.root_token]
    assert cli.main(["policy", "set", "gov", '{"audit": true}', *args]) == 0
    assert '"audit": true' in capsys.readouterr().out
    assert cli.main(["policy", "get", "gov/bob", "--json", *args]) == 0
    assert '"task_ttl_max_s": 30' in capsys.readouterr().out
    assert cli.main(["policy", "set", "gov/bob", '{"audit": false}', *args]) == 1
    assert "audit" in capsys.readouterr().err
    root.put(NS + "/policy", json={})
    root.put(NS + "/profiles/bob/policy", json={})


def test_a_change_reaches_another_node_within_the_staleness_bound(tmp_path, embedder) -> None:
    store = MemoryStore()
    clock_a, clock_b = ManualClock(), ManualClock()
    with (
        memoturn.open(tmp_path / "a", object_store=store, embedder=embedder, clock=clock_a) as a,
        memoturn.open(tmp_path / "b", object_store=store, embedder=embedder, clock=clock_b) as b,
    ):
        a.create_namespace("acme")
        a.create_profile("acme", "alice")
        assert b.effective_policy("acme", "alice").task_ttl_max_s is None  # b caches it
        a.set_policy("acme", {"task_ttl_max_s": 60})
        assert a.effective_policy("acme", "alice").task_ttl_max_s == 60  # at once here
        clock_b.advance(STALENESS_S - 0.01)
        assert b.effective_policy("acme", "alice").task_ttl_max_s is None  # within the bound
        clock_b.advance(0.01)
        assert b.effective_policy("acme", "alice").task_ttl_max_s == 60  # never beyond it
        # ... and b enforces it on its next write
        result = b.profile("acme", "alice").ingest("task", "call the bank", ttl_s=3600)
        assert result.ttl_capped and result.memory.expires_at == clock_b.now() + 60
        a.set_profile_policy("acme", "alice", {"task_ttl_max_s": 10})
        clock_b.advance(STALENESS_S)
        assert b.get_profile_policy("acme", "alice").effective.task_ttl_max_s == 10
