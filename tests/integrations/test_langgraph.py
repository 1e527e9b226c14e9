"""MemoturnStore against LangGraph's BaseStore contract, on the engine and a live node (sync
and async SDK). Where LangGraph's own reference store (InMemoryStore) defines the answer —
filters, namespace listing — the same ops run on both and the answers must agree."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest
from langgraph.config import get_store
from langgraph.graph import START, StateGraph
from langgraph.store.base import (
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchItem,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore
from tests.integrations.conftest import NS, Target, fresh
from typing_extensions import TypedDict

import memoturn
from memoturn.core.errors import Forbidden
from memoturn.integrations.langgraph import SPACE, MemoturnStore, kv_key


def run(target: Target, scenario) -> None:  # type: ignore[no-untyped-def]
    async def body() -> None:
        async with target.connect() as client:
            await scenario(client)

    asyncio.run(body())


async def sdk(result: Any) -> Any:
    """An SDK or engine answer, awaited when the client is async."""
    return await result if asyncio.iscoroutine(result) else result


def test_put_get_delete_and_the_item_fields(target: Target) -> None:
    async def scenario(client: Any) -> None:
        store = MemoturnStore(client, NS)
        user = fresh("u")
        ns = (user, "memories")
        assert await store.aget(ns, "food") is None  # not even a profile yet
        await store.aput(ns, "food", {"likes": "pizza", "since": 2019})
        item = await store.aget(ns, "food")
        assert isinstance(item, Item) and not isinstance(item, SearchItem)
        assert (item.namespace, item.key, item.value) == (
            ns,
            "food",
            {"likes": "pizza", "since": 2019},
        )
        assert isinstance(item.created_at, datetime) and item.created_at.tzinfo is not None
        assert item.created_at == item.updated_at
        target.clock.advance(10)
        await store.aput(ns, "food", {"likes": "sushi"})
        again = await store.aget(ns, "food")
        assert again.value == {"likes": "sushi"} and again.created_at == item.created_at
        assert (again.updated_at - item.updated_at).total_seconds() == pytest.approx(10)
        # it is Memoturn's own data: a KV key of the user's profile
        kv = await sdk(client.profile(NS, user).kv_get(SPACE, kv_key(("memories",), "food")))
        assert kv.value["value"] == {"likes": "sushi"}
        await store.adelete(ns, "food")
        assert await store.aget(ns, "food") is None
        await store.adelete(ns, "food")  # deleting what is gone is fine
        await store.aput(ns, "food", {"likes": "soup"})
        fresh_item = await store.aget(ns, "food")
        assert fresh_item.created_at > item.created_at  # a new item after a delete

    run(target, scenario)


def test_the_profile_label_addresses_profiles(target: Target) -> None:
    async def scenario(client: Any) -> None:
        bob, carol = fresh("bob"), fresh("carol")
        by_second = MemoturnStore(client, NS, profile_label=1)
        await by_second.aput(("prefs", bob), "k", {"v": 1})
        await by_second.aput(("prefs", carol), "k", {"v": 2})
        await by_second.aput(("prefs", bob, "deep", "er"), "k", {"v": 3})
        assert (await by_second.aget(("prefs", bob), "k")).value == {"v": 1}
        assert (await by_second.aget(("prefs", carol), "k")).value == {"v": 2}
        # the same data seen with the profile first
        first = MemoturnStore(client, NS)
        assert (await first.aget((bob, "prefs"), "k")).value == {"v": 1}
        got = await first.aget((bob, "prefs", "deep", "er"), "k")
        assert got.value == {"v": 3} and got.namespace == (bob, "prefs", "deep", "er")
        listed = await by_second.alist_namespaces(prefix=("prefs", bob))
        assert listed == [("prefs", bob), ("prefs", bob, "deep", "er")]
        with pytest.raises(InvalidNamespaceError, match="no label at index 1"):
            await by_second.aput(("prefs",), "k", {"v": 0})
        with pytest.raises(InvalidNamespaceError, match="profile"):
            await first.aput(("Not A Profile", "x"), "k", {"v": 0})
        # reads: a label that cannot be a profile holds nothing
        assert await first.aget(("Not A Profile", "x"), "k") is None
        assert await first.asearch(("Not A Profile",)) == []
        assert await first.alist_namespaces(prefix=("Not A Profile",)) == []
        with pytest.raises(InvalidNamespaceError, match="no label at index 1"):
            await by_second.aget(("prefs",), "k")
        with pytest.raises(InvalidNamespaceError):
            await first.abatch([PutOp(("langgraph", "x"), "k", {"v": 0})])
        with pytest.raises(InvalidNamespaceError):
            await first.abatch([GetOp((bob, "a.b"), "k")])

    run(target, scenario)


def test_batch_runs_reads_before_puts_and_the_last_put_wins(target: Target) -> None:
    async def scenario(client: Any) -> None:
        store = MemoturnStore(client, NS)
        ns = (fresh("u"), "b")
        await store.aput(ns, "a", {"n": 0})
        results = await store.abatch(
            [
                PutOp(ns, "a", {"n": 1}),
                GetOp(ns, "a"),
                PutOp(ns, "b", {"n": 1}),
                PutOp(ns, "b", {"n": 2}),
                PutOp(ns, "gone", None),
                SearchOp(ns),
                ListNamespacesOp(),
            ]
        )
        assert results[0] is None and results[2:5] == [None, None, None]
        assert results[1].value == {"n": 0}  # reads see the state before the batch's puts
        assert [i.key for i in results[5]] == ["a"]
        assert ns in results[6]
        assert (await store.aget(ns, "a")).value == {"n": 1}
        assert (await store.aget(ns, "b")).value == {"n": 2}

    run(target, scenario)


ROWS = [
    ("a", {"kind": "report", "score": 4.5, "meta": {"lang": "en"}, "tags": ["x", "y"]}),
    ("b", {"kind": "report", "score": 2, "meta": {"lang": "pt"}}),
    ("c", {"kind": "note", "score": 9, "meta": {"lang": "en"}}),
    ("d", {"kind": "note", "score": 7}),
    ("e", {"kind": "memo", "score": 0}),
]
FILTERS: list[dict[str, Any]] = [
    {},
    {"kind": "report"},
    {"kind": {"$eq": "note"}},
    {"kind": {"$ne": "note"}},
    {"score": {"$gt": 4.5}},
    {"score": {"$gte": 4.5}},
    {"score": {"$lt": 4.5}},
    {"score": {"$lte": 4.5}},
    {"score": {"$gt": 1, "$lt": 5}},
    {"meta": {"lang": "en"}},
    {"tags": ["x", "y"]},
    {"kind": "note", "score": {"$gte": 0}},
    {"missing": {"$ne": 1}},
]


def test_search_filters_agree_with_langgraphs_reference_store(target: Target) -> None:
    async def scenario(client: Any) -> None:
        store, reference = MemoturnStore(client, NS), InMemoryStore()
        user = fresh("u")
        for key, value in ROWS:
            for s in (store, reference):
                await s.aput((user, "docs", key[0] * 2), key, value)
        await store.aput((user, "other"), "z", {"kind": "report"})
        for f in FILTERS:
            ours = await store.asearch((user, "docs"), filter=f, limit=100)
            theirs = await reference.asearch((user, "docs"), filter=f, limit=100)
            assert {(i.namespace, i.key) for i in ours} == {(i.namespace, i.key) for i in theirs}, f
            assert all(isinstance(i, SearchItem) and i.score is None for i in ours)
        # where the reference raises, a comparison with a non-number is false (as in Postgres)
        await store.aput((user, "odd"), "f", {"score": "n/a"})
        await store.aput((user, "odd"), "g", {"kind": "memo"})
        assert await store.asearch((user, "odd"), filter={"score": {"$gt": 0}}) == []
        ne = await store.asearch((user, "odd"), filter={"score": {"$ne": 1}})
        assert sorted(i.key for i in ne) == ["f", "g"]
        with pytest.raises(ValueError, match="unsupported filter operator"):
            await store.asearch((user, "odd"), filter={"score": {"$in": [1]}})
        # paging: newest first, offset/limit
        every = await store.asearch((user,), limit=100)
        assert len(every) == len(ROWS) + 3
        stamps = [i.updated_at for i in every]
        assert stamps == sorted(stamps, reverse=True)
        assert await store.asearch((user,), limit=2, offset=1) == every[1:3]
        assert await store.asearch((user, "doc")) == []  # a prefix is whole labels

    run(target, scenario)


def test_search_with_a_query_goes_through_hybrid_recall(target: Target) -> None:
    async def scenario(client: Any) -> None:
        store = MemoturnStore(client, NS)
        user = fresh("u")
        ns = (user, "memories")
        await store.aput(ns, "diet", {"text": "Alice is vegetarian and never eats meat"})
        await store.aput(ns, "pet", {"text": "Alice has a cat called Miso", "kind": "pet"})
        await store.aput(ns, "trip", {"text": "Alice flies to Lisbon in May"})
        await store.aput(ns, "hidden", {"text": "vegetarian cookbook"}, index=False)
        await store.aput((user, "elsewhere"), "x", {"text": "vegetarian lasagne recipe"})
        await store.aput(ns, "fields", {"title": "Ramen place", "body": "noodles"}, index=["title"])
        hits = await store.asearch(ns, query="what food does she eat? vegetarian")
        assert hits[0].key == "diet" and isinstance(hits[0].score, float)
        assert "hidden" not in [h.key for h in hits]  # not indexed: found by filter only
        assert all(h.namespace == ns for h in hits)  # the prefix holds
        assert hits == sorted(hits, key=lambda h: -(h.score or 0))
        assert [h.key for h in await store.asearch(ns, query="cat", filter={"kind": "pet"})] == [
            "pet"
        ]
        assert (await store.asearch(ns, query="ramen"))[0].key == "fields"
        assert (await store.asearch((user,), query="lasagne"))[0].namespace == (user, "elsewhere")
        # a new version is what recall finds; a deleted item is not found
        await store.aput(ns, "trip", {"text": "Alice moved her trip to Tokyo"})
        top = (await store.asearch(ns, query="Tokyo trip", limit=1))[0]
        assert top.key == "trip" and "Tokyo" in top.value["text"]
        await store.adelete(ns, "diet")
        assert "diet" not in [h.key for h in await store.asearch(ns, query="vegetarian")]
        page = await store.asearch(ns, query="Alice", limit=1, offset=1)
        assert len(page) == 1

    run(target, scenario)


def test_list_namespaces_agrees_with_langgraphs_reference_store(target: Target) -> None:
    async def scenario(client: Any) -> None:
        store, reference = MemoturnStore(client, NS), InMemoryStore()
        a, b = fresh("a"), fresh("b")
        spaces = [
            (a, "docs", "v1"),
            (a, "docs", "v2"),
            (a, "cache"),
            (b, "docs", "v1"),
            (b, "notes", "x", "y"),
        ]
        for ns in spaces:
            for s in (store, reference):
                await s.aput(ns, "k", {"v": 1})
        ours_all = await store.alist_namespaces(limit=1000)
        assert set(spaces) <= set(ours_all) and ours_all == sorted(ours_all)
        cases: list[dict[str, Any]] = [
            {"prefix": (a,)},
            {"prefix": (a, "docs")},
            {"prefix": ("*", "docs")},
            {"suffix": ("v1",)},
            {"prefix": (b,), "suffix": ("y",)},
            {"prefix": (a,), "max_depth": 2},
            {"prefix": (b,), "max_depth": 1},
            {"prefix": (a,), "limit": 1, "offset": 1},
            {"prefix": (a, "*", "v2")},
        ]
        for case in cases:
            ours = await store.alist_namespaces(**case)
            theirs = await reference.alist_namespaces(**case)
            if "prefix" not in case or case["prefix"][0] == "*":  # other tests' profiles too
                ours = [ns for ns in ours if ns[0] in (a, b)]
            assert ours == theirs, case
        op = ListNamespacesOp(match_conditions=(MatchCondition("prefix", (a, "docs")),))
        assert (await store.abatch([op]))[0] == [(a, "docs", "v1"), (a, "docs", "v2")]

    run(target, scenario)


def test_ttl_in_minutes_refreshed_on_read(target: Target) -> None:
    async def scenario(client: Any) -> None:
        store = MemoturnStore(client, NS)
        assert store.supports_ttl
        ns = (fresh("u"), "scratch")
        await store.aput(ns, "t", {"text": "a short-lived note about kites"}, ttl=1)
        await store.aput(ns, "forever", {"v": 1})
        target.clock.advance(45)
        first = await store.aget(ns, "t")  # refreshes: another minute from now
        target.clock.advance(45)
        second = await store.aget(ns, "t", refresh_ttl=False)
        assert first is not None and second is not None
        assert second.updated_at == first.updated_at  # a refresh is not an update
        assert (await store.asearch(ns, query="kites"))[0].key == "t"  # refreshes too
        target.clock.advance(61)
        assert await store.aget(ns, "t") is None
        assert [i.key for i in await store.asearch(ns)] == ["forever"]
        assert "t" not in [h.key for h in await store.asearch(ns, query="kites")]
        # the store's TTLConfig: a default TTL, and no refresh on read
        lazy = MemoturnStore(client, NS, ttl={"default_ttl": 1, "refresh_on_read": False})
        await lazy.aput(ns, "d", {"v": 2})
        target.clock.advance(40)
        assert await lazy.aget(ns, "d") is not None
        target.clock.advance(40)
        assert await lazy.aget(ns, "d") is None

    run(target, scenario)


def test_checkpoint_and_rewind_take_the_store_back(target: Target) -> None:
    """What no other LangGraph store has: the user's whole store, pinned and rewound."""

    async def scenario(client: Any) -> None:
        store = MemoturnStore(client, NS)
        user = fresh("u")
        await store.aput((user, "prefs"), "tone", {"v": "formal"})
        await sdk(client.create_checkpoint(NS, user, "before"))
        await store.aput((user, "prefs"), "tone", {"v": "pirate"})
        await store.aput((user, "prefs"), "extra", {"v": 1})
        await sdk(client.rewind(NS, user, checkpoint="before"))
        assert (await store.aget((user, "prefs"), "tone")).value == {"v": "formal"}
        assert await store.aget((user, "prefs"), "extra") is None
        hits = await store.asearch((user,), query="pirate")
        assert [h.value for h in hits] == [{"v": "formal"}]  # recall was rewound too

    run(target, scenario)


def test_sync_methods(sync_target: Target) -> None:
    with sync_target.connect_sync() as client:
        store = MemoturnStore(client, NS)
        ns = (fresh("u"), "s")
        store.put(ns, "k", {"text": "sync write about owls"})
        assert store.get(ns, "k").value == {"text": "sync write about owls"}
        assert store.search(ns, query="owls")[0].key == "k"
        assert store.list_namespaces(prefix=ns[:1]) == [ns]
        store.delete(ns, "k")
        assert store.get(ns, "k") is None


def test_an_async_client_refuses_the_sync_methods(adapter_node) -> None:
    async def scenario() -> None:
        async with memoturn.AsyncClient(adapter_node.url, adapter_node.root_token) as client:
            store = MemoturnStore(client, NS)
            with pytest.raises(TypeError, match="async"):
                store.get((fresh("u"), "x"), "k")

    asyncio.run(scenario())


def test_a_profile_token_reaches_its_own_profile_only(adapter_node) -> None:
    with memoturn.Client(adapter_node.url, adapter_node.root_token) as root:
        user, other = fresh("u"), fresh("o")
        root.create_profile(NS, user)
        token = root.mint_token(NS, profile=user).token
    with memoturn.Client(adapter_node.url, token) as c:
        store = MemoturnStore(c, NS)
        store.put((user, "m"), "k", {"v": 1})
        assert store.get((user, "m"), "k").value == {"v": 1}
        assert store.search((user,), filter={"v": 1})[0].key == "k"
        with pytest.raises(Forbidden):
            store.put((other, "m"), "k", {"v": 2})


class State(TypedDict):
    user: str
    said: str
    reply: str


def test_a_graph_remembers_across_runs_through_the_store(sync_target: Target) -> None:
    """A real LangGraph graph (no model needed): one node recalls, then stores."""

    def respond(state: State) -> dict[str, str]:
        store = get_store()
        ns = (state["user"], "facts")
        known = store.search(ns, query=state["said"], limit=1)
        reply = f"I remember: {known[0].value['text']}" if known else "Noted."
        store.put(ns, f"fact-{len(store.search(ns, limit=100))}", {"text": state["said"]})
        return {"reply": reply}

    builder = StateGraph(State)
    builder.add_node("respond", respond)
    builder.add_edge(START, "respond")
    with sync_target.connect_sync() as client:
        graph = builder.compile(store=MemoturnStore(client, NS))
        user = fresh("u")
        first = graph.invoke({"user": user, "said": "my sister lives in Porto", "reply": ""})
        assert first["reply"] == "Noted."
        second = graph.invoke({"user": user, "said": "where does my sister live?", "reply": ""})
        assert second["reply"] == "I remember: my sister lives in Porto"
