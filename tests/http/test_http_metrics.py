"""/metrics after real work: every metric the node exports has been fed."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from memoturn.http import ThrowawayNode
from memoturn.storage.localdir import LocalDirStore
from memoturn.storage.wrappers import FaultyStore

NS = "/v1/namespaces/m"


def test_every_exported_metric_is_fed_by_real_work(tmp_path, embedder) -> None:
    store = FaultyStore(LocalDirStore(tmp_path / "store"))
    with ThrowawayNode(tmp_path / "node", object_store=store, embedder=embedder) as node:
        auth = {"Authorization": f"Bearer {node.root_token}"}
        with httpx.Client(base_url=node.url, headers=auth, timeout=60) as c:
            c.post("/v1/namespaces", json={"name": "m"}).raise_for_status()
            for name in ("alice", "bob"):
                c.post(NS + "/profiles", json={"name": name}).raise_for_status()
                r = c.post(f"{NS}/profiles/{name}/memories", json={"type": "fact", "content": "x"})
                r.raise_for_status()
            store.fail_next("put_segment")  # one upload fails: the write is a 503
            r = c.post(NS + "/profiles/alice/memories", json={"type": "fact", "content": "y"})
            assert r.status_code == 503, r.text
            assert node.engine.hibernate("m", "alice") and node.engine.hibernate("m", "bob")
            c.get(NS + "/profiles/alice/memories").raise_for_status()  # wakes alice again
            text = c.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    exported = {n for n in families if n.startswith("memoturn_") and not n.endswith("_created")}
    assert {
        "memoturn_wakes",
        "memoturn_wake_duration_seconds",
        "memoturn_hibernations",
        "memoturn_hibernated_profiles",
        "memoturn_open_profiles",
        "memoturn_segment_uploads",
        "memoturn_segment_upload_bytes",
        "memoturn_segment_upload_duration_seconds",
        "memoturn_lease_events",
        "memoturn_http_request_duration_seconds",
    } <= exported
    for name in exported:
        values = [s.value for s in families[name].samples if not s.name.endswith("_created")]
        assert any(v > 0 for v in values), f"{name} was never fed: {families[name].samples}"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values()
               for s in f.samples}  # fmt: skip
    assert samples[("memoturn_segment_uploads_total", (("result", "error"),))] == 1
    assert samples[("memoturn_hibernations_total", ())] == 2
    assert samples[("memoturn_hibernated_profiles", ())] == 1  # bob; alice woke again
    assert samples[("memoturn_open_profiles", ())] == 1
    assert (
        samples[("memoturn_wake_duration_seconds_count", ())]
        == samples[("memoturn_wakes_total", ())]
    )
