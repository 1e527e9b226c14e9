"""``POST /v1/namespaces/{ns}/profiles/batch`` on every edge: REST, the SDK (sync and
async) and the CLI, against a real node on loopback; bad input is a 400 that provisions
nothing."""

from __future__ import annotations

import asyncio

import httpx
import pytest

import memoturn
from memoturn import InvalidInput, cli
from memoturn.core.clock import ManualClock
from memoturn.core.model import ProfilesCreated
from memoturn.http import ThrowawayNode


@pytest.fixture(scope="module")
def node(tmp_path_factory, embedder):
    with ThrowawayNode(
        tmp_path_factory.mktemp("batch"), embedder=embedder, clock=ManualClock()
    ) as n:
        with memoturn.Client(n.url, n.root_token) as c:
            c.create_namespace("acme")
        yield n


def test_rest(node) -> None:
    auth = {"Authorization": f"Bearer {node.root_token}"}
    url = f"{node.url}/v1/namespaces/acme/profiles/batch"
    r = httpx.post(url, json={"names": ["r1", "r2"]}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json() == {"created": ["r1", "r2"], "existing": []}
    r = httpx.post(url, json={"names": ["r2", "r3"]}, headers=auth)
    assert r.json() == {"created": ["r3"], "existing": ["r2"]}
    bad_bodies = [
        {"names": ["ok4", "Bad"]}, {"names": ["ok4", "ok4"]}, {"names": []}, {"names": "ok4"},
        {"names": ["ok4", 5]}, {}, {"names": ["ok4"], "x": 1},
    ]  # fmt: skip
    for bad in bad_bodies:
        r = httpx.post(url, json=bad, headers=auth)
        assert r.status_code == 400, (bad, r.text)
    assert "ok4" not in memoturn.Client(node.url, node.root_token).list_profiles("acme").profiles
    assert httpx.post(url, json={"names": ["x"]}).status_code == 401


def test_sdk_sync_and_async(node) -> None:
    with memoturn.Client(node.url, node.root_token) as c:
        made = c.create_profiles("acme", ["s1", "s2"])
        assert made == ProfilesCreated(["s1", "s2"], [])
        with pytest.raises(InvalidInput):
            c.create_profiles("acme", ["s3", "S4"])
        assert "s3" not in c.list_profiles("acme").profiles

    async def go() -> ProfilesCreated:
        async with memoturn.AsyncClient(node.url, node.root_token) as c:
            return await c.create_profiles("acme", ["s2", "a1"])

    assert asyncio.run(go()) == ProfilesCreated(["a1"], ["s2"])


def test_cli(node, monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.setenv("MEMOTURN_URL", node.url)
    monkeypatch.setenv("MEMOTURN_TOKEN", node.root_token)
    names = tmp_path / "names.txt"
    names.write_text("c2\nc3\n\n")
    assert cli.main(["profile", "create-many", "acme", "c1", "--file", str(names)]) == 0
    assert capsys.readouterr().out == "3 created, 0 existed already\n"
    assert cli.main(["profile", "create-many", "acme", "c1", "c4", "--json"]) == 0
    assert '"existing": [\n    "c1"' in capsys.readouterr().out
