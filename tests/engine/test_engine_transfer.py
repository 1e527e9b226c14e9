"""Export and import through the engine: the import is one txid that ships as one segment,
survives losing the node, and lands on a branch without touching its parent."""

from __future__ import annotations

import pytest

from memoturn import Conflict
from memoturn.storage import manifest as manifests


def _fill(p) -> None:  # type: ignore[no-untyped-def]
    p.ingest("preference", "Alice is vegetarian", topic="diet")
    p.ingest("preference", "Alice is vegan", topic="diet")
    p.append_turns(
        "s1", [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    )
    p.kv_set("scratch", "plan", {"step": 2})
    p.add_document("Tofu is made from soy milk.", title="Tofu")
    p.vector_upsert("emb", "x", [0.1, 0.2, 0.3])


def test_an_import_is_one_shipped_txid_that_survives_the_node(make_engine, tmp_path) -> None:
    node = make_engine()
    node.create_namespace("acme")
    node.create_profile("acme", "alice")
    node.create_profile("acme", "copy")
    _fill(node.profile("acme", "alice"))
    path = tmp_path / "alice.jsonl"
    path.write_text(node.profile("acme", "alice").export_profile())
    with path.open() as lines:
        result = node.profile("acme", "copy").import_profile(lines)  # read once, even if retried
    assert result.txid == 1
    m, _ = manifests.load(node.store, "acme--copy", "main")
    assert m.head == 1  # in the object store before the import answered
    node.close()
    other = make_engine()  # an empty local disk: everything comes from the store
    assert other.profile("acme", "copy").export_profile() == path.read_text()
    assert [r.memory.content for r in other.profile("acme", "copy").recall("vegan").results] == [
        "Alice is vegan"
    ]


def test_an_import_into_a_branch_leaves_its_parent_alone(make_engine) -> None:
    node = make_engine()
    node.create_namespace("acme")
    node.create_profile("acme", "alice")
    node.create_profile("acme", "fresh")
    _fill(node.profile("acme", "alice"))
    exported = node.profile("acme", "alice").export_profile()
    # A branch of a profile with data holds that data: not a place to import into.
    node.create_branch("acme", "alice", "fork")
    with pytest.raises(Conflict):
        node.profile("acme", "alice", "fork").import_profile(exported)
    # A branch forked from an empty profile is empty: the import lands there only.
    node.create_branch("acme", "fresh", "trial")
    node.profile("acme", "fresh", "trial").import_profile(exported)
    assert node.profile("acme", "fresh", "trial").export_profile() == exported
    assert node.profile("acme", "fresh").list_memories(include_history=True).memories == []
