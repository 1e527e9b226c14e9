"""Name rules (DESIGN §1): namespaces, profiles, branches, KV spaces, collections."""

from __future__ import annotations

import re

from memoturn.core.errors import InvalidInput

ROOT_TOKEN_FILE = "root.token"
"""The root token's file in a node's data directory (mode 0600)."""

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def check_name(value: object, what: str) -> str:
    """Return ``value`` if it is a valid name, else raise :class:`InvalidInput`.

    Names are 1-63 characters of ``a-z 0-9 _ -``, starting with a letter or digit, and never
    contain ``--`` (it separates namespace and profile in a database id). Names are never
    rewritten: ``Alice`` is an error, not ``alice``.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{what} must be a string, got {type(value).__name__}")
    if not _NAME.fullmatch(value) or "--" in value:
        raise InvalidInput(
            f"invalid {what} {value!r}",
            hint="use 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or "
            "digit, without '--'",
        )
    return value


def database_id(namespace: str, profile: str) -> str:
    """The id of a profile's database, e.g. ``acme--alice``."""
    return f"{check_name(namespace, 'namespace')}--{check_name(profile, 'profile')}"
