"""KV spaces and raw vector collections."""

from __future__ import annotations

from typing import Any

from memoturn.core.api import ProfileAPI
from memoturn.mcp.tools.base import WRITE, Answer, Tool, integer, json_object, numbers, string

SPACE = string("The KV space, a name of a-z, 0-9, '_' and '-' (e.g. \"scratch\", \"flags\").")
KEY = string("The key within the space (any text; '/' is fine).")
COLLECTION = string("The vector collection, a name of a-z, 0-9, '_' and '-'.")

# -- KV ---------------------------------------------------------------------------------------


def _kv_set(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.kv_set(args["space"], args["key"], args["value"], ttl_s=args.get("ttl_s"))


def _kv_get(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.kv_get(args["space"], args["key"])


def _kv_delete(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.kv_delete(args["space"], args["key"])


def _kv_list(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.kv_list(args.pop("space"), **args)


KV_SET = Tool(
    name="kv_set",
    operation="kv_set",
    title="Set a key",
    description=(
        "Save a JSON value under a key in a named key/value space: exact state the agent "
        "must read back as is (a scratchpad, a flag, a counter, a cursor), not something "
        "to search by meaning (use memory_ingest for that). Overwrites; 'ttl_s' makes the "
        "key expire.\n"
        'Example: {"space": "scratch", "key": "plan", "value": {"step": 2}, "ttl_s": 3600}\n'
        "Returns {key, value, expires_at, updated_at, txid}."
    ),
    params={
        "space": SPACE,
        "key": KEY,
        "value": {"description": "Any JSON value (object, array, string, number, ...)."},
        "ttl_s": integer("Optional lifetime in seconds.", minimum=1),
    },
    required=("space", "key", "value"),
    scope=WRITE,
    idempotent=True,
    on_profile=_kv_set,
)

KV_GET = Tool(
    name="kv_get",
    operation="kv_get",
    title="Get a key",
    description=(
        "Read the value of one key of a KV space (not found once it has expired).\n"
        'Example: {"space": "scratch", "key": "plan"}\n'
        "Returns {key, value, expires_at, updated_at, txid}."
    ),
    params={"space": SPACE, "key": KEY},
    required=("space", "key"),
    on_profile=_kv_get,
)

KV_DELETE = Tool(
    name="kv_delete",
    operation="kv_delete",
    title="Delete a key",
    description=(
        "Delete one key of a KV space.\n"
        'Example: {"space": "scratch", "key": "plan"}\n'
        "Returns {txid, count} (count 0: there was no such key)."
    ),
    params={"space": SPACE, "key": KEY},
    required=("space", "key"),
    scope=WRITE,
    destructive=True,
    idempotent=True,
    on_profile=_kv_delete,
)

KV_LIST = Tool(
    name="kv_list",
    operation="kv_list",
    title="List keys",
    description=(
        "List the live keys of a KV space in key order, with their values, optionally only "
        "those starting with 'prefix'. Page with 'cursor' (the previous answer's next_cursor).\n"
        'Example: {"space": "scratch", "prefix": "plan/"}\n'
        "Returns {items: [{key, value, expires_at, updated_at}], txid, next_cursor}."
    ),
    params={
        "space": SPACE,
        "prefix": string("Only keys starting with this."),
        "limit": integer("At most this many keys (default 1000).", minimum=1, maximum=10_000),
        "cursor": string("The next_cursor of the previous page."),
    },
    required=("space",),
    on_profile=_kv_list,
)

# -- vectors ----------------------------------------------------------------------------------


def _vector_upsert(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.vector_upsert(
        args["collection"], args["id"], args["vector"], metadata=args.get("metadata")
    )


def _vector_query(profile: ProfileAPI, args: dict[str, Any]) -> Answer:
    return profile.vector_query(args.pop("collection"), args.pop("vector"), **args)


VECTOR_UPSERT = Tool(
    name="vector_upsert",
    operation="vector_upsert",
    title="Store a vector",
    description=(
        "Insert or replace one embedding you computed yourself in a raw vector collection "
        "(for agents that bring their own embedding model; memory_ingest embeds text for "
        "you). A collection's dimension is fixed by its first vector.\n"
        'Example: {"collection": "images", "id": "img-1", "vector": [0.1, 0.3, 0.5], '
        '"metadata": {"path": "a.png"}}\n'
        "Returns {txid, count}."
    ),
    params={
        "collection": COLLECTION,
        "id": string("The vector's id within the collection."),
        "vector": numbers("The embedding (at most 4096 numbers)."),
        "metadata": json_object("Optional JSON object returned with query hits."),
    },
    required=("collection", "id", "vector"),
    scope=WRITE,
    idempotent=True,
    on_profile=_vector_upsert,
)

VECTOR_QUERY = Tool(
    name="vector_query",
    operation="vector_query",
    title="Query vectors",
    description=(
        "Find the k vectors of a collection nearest to a query vector (cosine "
        "similarity), optionally only those whose metadata matches.\n"
        'Example: {"collection": "images", "vector": [0.1, 0.3, 0.5], "k": 3}\n'
        "Returns {results: [{id, score, metadata}], txid}."
    ),
    params={
        "collection": COLLECTION,
        "vector": numbers("The query embedding (same dimension as the collection)."),
        "k": integer("How many hits (default 10).", minimum=1, maximum=200),
        "metadata": json_object("Only vectors whose metadata has each key equal to the value."),
    },
    required=("collection", "vector"),
    on_profile=_vector_query,
)

TOOLS = (KV_SET, KV_GET, KV_DELETE, KV_LIST, VECTOR_UPSERT, VECTOR_QUERY)
