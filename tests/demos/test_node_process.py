"""memoturn.testing: throwaway nodes as child processes, and the deployment the examples use."""

from __future__ import annotations

import httpx
import pytest

import memoturn
from memoturn.testing import NodeFailed, NodeProcess, deployment


def _down(url: str) -> bool:
    try:
        httpx.get(f"{url}/healthz", timeout=2)
    except httpx.TransportError:
        return True
    return False


def test_a_throwaway_node_serves_and_leaves_nothing_behind(monkeypatch) -> None:
    # The caller's MEMOTURN_* settings are not the child's: this one would stop `serve`.
    monkeypatch.setenv("MEMOTURN_HIBERNATE_AFTER", "soon")
    with NodeProcess() as node:
        assert (
            node.url.startswith("http://127.0.0.1:") and repr(node) == f"<NodeProcess {node.url}>"
        )
        assert node.data_dir.is_dir()
        with memoturn.Client(node.url, node.root_token) as client:
            assert client.create_namespace("acme") is True
    assert not node.data_dir.exists()
    assert _down(node.url)


def test_a_node_that_cannot_start_says_why(tmp_path) -> None:
    bad = NodeProcess(data_dir=tmp_path / "data", args=["--durability", "sometimes"])
    with pytest.raises(NodeFailed) as e:
        bad.start()
    assert "exited with status 2" in str(e.value) and "invalid choice" in str(e.value)


@pytest.mark.slow
def test_a_throwaway_deployment_is_nodes_on_one_store() -> None:
    with deployment(nodes=2) as d:
        assert d.throwaway and len(set(d.urls)) == 2 and d.url == d.urls[0]
        with memoturn.Client(d.urls[0], d.token) as a, memoturn.Client(d.urls[1], d.token) as b:
            a.create_namespace("acme")  # the root token of node A is good on node B
            b.create_profile("acme", "alice")
            assert a.list_profiles("acme").profiles == ["alice"]
    assert all(_down(u) for u in d.urls)


def test_a_given_deployment_is_used_as_it_is(monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)  # no ./.memoturn/root.token here
    monkeypatch.setenv("MEMOTURN_URL", "http://10.0.0.7:8765/")
    monkeypatch.delenv("MEMOTURN_TOKEN", raising=False)
    monkeypatch.delenv("MEMOTURN_DATA", raising=False)
    refused = pytest.raises(NodeFailed, match="no token was given: set MEMOTURN_TOKEN")
    with refused, deployment():
        pass
    monkeypatch.setenv("MEMOTURN_TOKEN", "t0ken")
    monkeypatch.setenv("MEMOTURN_PEER_URL", "http://10.0.0.8:8765")
    with deployment(nodes=2) as d:
        assert d.urls == ["http://10.0.0.7:8765", "http://10.0.0.8:8765"]
        assert d.token == "t0ken" and not d.throwaway
