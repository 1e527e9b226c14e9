"""Erasure receipts: signed with the deployment's Ed25519 key, verifiable offline.

A receipt is one JSON object. Its ``signature`` is over ``SIGNED_PREFIX`` plus the
canonical JSON (sorted keys, no spaces) of every other field, so a change to any field —
an id, a digest, a time, an object's hash — fails :func:`check`. The prefix keeps a receipt
signature from ever counting as an audit head's or a token's (the same key signs those).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FORMAT = "memoturn-erasure-receipt-1"
SIGNED_PREFIX = b"memoturn-erasure-receipt\n"
_HEX64 = re.compile(r"[0-9a-f]{64}")
REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "erasure_id": str,
    "namespace": str,
    "profile": str,
    "branch": str,
    "asked": dict,
    "items": list,
    "digest_key_id": str,
    "hard_delete_txid": int,
    "requested_at": str,
    "phase1_at": str,
    "phase2_at": str,
    "objects_deleted": list,
    "objects_written": list,
    "blockers": list,
    "state": str,
    "key_id": str,
    "public_key": str,
    "signature": str,
}


def canonical(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short name of a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_bytes(key)).hexdigest()[:16]


def sign(body: Mapping[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """``body`` with ``format``, ``key_id``, ``public_key`` and ``signature`` added."""
    public = key.public_key()
    out = {
        **body,
        "format": FORMAT,
        "key_id": key_id(public),
        "public_key": base64.b64encode(public_bytes(public)).decode(),
    }
    out.pop("signature", None)
    out["signature"] = base64.b64encode(key.sign(SIGNED_PREFIX + canonical(out))).decode()
    return out


def _time(value: str, field: str) -> float:
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"{field} is not an ISO-8601 time: {value!r}") from None


def check(receipt: object, trusted: Ed25519PublicKey | None = None) -> list[str]:
    """Every problem with ``receipt`` (empty: it checks out). The signature is checked with
    ``trusted`` when given (the deployment's key), else with the key the receipt names —
    which proves only that it was not changed since it was signed by that key."""
    if not isinstance(receipt, Mapping):
        return ["the receipt is not a JSON object"]
    problems = []
    for field, kind in REQUIRED.items():
        value = receipt.get(field)
        if not isinstance(value, kind) or isinstance(value, bool):
            problems.append(f"{field} is missing or not a {getattr(kind, '__name__', kind)}")
    if problems:
        return problems
    body = {k: v for k, v in receipt.items() if k != "signature"}
    try:
        embedded = Ed25519PublicKey.from_public_bytes(
            base64.b64decode(receipt["public_key"], validate=True)
        )
        signature = base64.b64decode(receipt["signature"], validate=True)
    except (ValueError, binascii.Error):
        return ["public_key or signature is not valid base64 of the right size"]
    key = trusted or embedded
    if trusted is not None and public_bytes(trusted) != public_bytes(embedded):
        problems.append("the receipt was signed by another key than this deployment's")
    try:
        key.verify(signature, SIGNED_PREFIX + canonical(body))
    except InvalidSignature:
        problems.append("the signature does not verify: the receipt was changed after signing")
    if receipt["key_id"] != key_id(embedded):
        problems.append("key_id does not name the receipt's public key")
    if receipt["format"] != FORMAT:
        problems.append(f"unknown format {receipt['format']!r}")
    if receipt["state"] != "complete":
        problems.append(f"state is {receipt['state']!r}, not complete")
    for i, item in enumerate(receipt["items"]):
        if (
            not isinstance(item, Mapping)
            or not isinstance(item.get("kind"), str)
            or not isinstance(item.get("id"), str)
            or not _HEX64.fullmatch(str(item.get("digest")))
        ):
            problems.append(f"items[{i}] is not a kind, an id and a 64-hex digest")
    for listed in ("objects_deleted", "objects_written"):
        for i, obj in enumerate(receipt[listed]):
            if (
                not isinstance(obj, Mapping)
                or not isinstance(obj.get("key"), str)
                or not _HEX64.fullmatch(str(obj.get("sha256")))
            ):
                problems.append(f"{listed}[{i}] is not a key and a sha256")
    try:
        times = [_time(receipt[f], f) for f in ("requested_at", "phase1_at", "phase2_at")]
        if not times[0] <= times[1] <= times[2]:
            problems.append("the times are out of order (requested, phase 1, phase 2)")
    except ValueError as e:
        problems.append(str(e))
    return problems


__all__ = ["FORMAT", "canonical", "check", "key_id", "sign"]
