"""Documented limits. Input over a limit is rejected whole (413 or 400), never truncated.

docs/limits.md lists these for users; a test keeps the two in step.
"""

from __future__ import annotations

MAX_MEMORY_CONTENT_BYTES = 32 * 1024
"""Content of one memory, UTF-8 encoded."""

MAX_TURN_CONTENT_BYTES = 64 * 1024
"""Content of one transcript turn, UTF-8 encoded."""

MAX_DOCUMENT_BYTES = 1024 * 1024
"""Content of one document, UTF-8 encoded (it is chunked for recall)."""

MAX_METADATA_BYTES = 8 * 1024
"""A metadata object, JSON encoded."""

MAX_KV_VALUE_BYTES = 64 * 1024
"""One KV value, JSON encoded."""

MAX_KV_KEY_CHARS = 512
"""One KV key."""

MAX_TOPIC_CHARS = 256
MAX_SOURCE_CHARS = 128
MAX_SESSION_ID_CHARS = 128
MAX_IDEMPOTENCY_KEY_CHARS = 256
MAX_QUERY_CHARS = 4096
MAX_TITLE_CHARS = 512
MAX_VECTOR_ID_CHARS = 256

MIN_TTL_S = 1
MAX_TTL_S = 10 * 365 * 24 * 3600
"""TTLs (memories, tasks, KV keys, branches) are whole seconds in [1, 10 years]."""

DEFAULT_TASK_TTL_S = 24 * 3600
"""Session task memories expire after this unless the session says otherwise."""

MAX_RECALL_K = 200
MAX_VECTOR_DIM = 4096
MAX_BATCH = 1000
"""Items in one batched ingest."""

DOCUMENT_CHUNK_CHARS = 1000
"""Target size of a document chunk (the embedder reads about 256 tokens of it)."""

FORWARD_TIMEOUT_S = 30
"""How long a node waits for the writer's answer to a write it forwarded."""

MAX_IMPORT_BYTES = 64 * 1024 * 1024
"""A profile export sent to ``POST P/import`` (the REST edge; in process there is none)."""

MAX_ERASURE_ITEMS = 1000
"""Memory ids, document ids or KV keys one erasure may name (each list)."""
