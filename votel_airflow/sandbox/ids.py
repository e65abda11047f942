"""Identifiers: UUID strings (random, or drawn from a seeded generator) and API keys."""

from __future__ import annotations

import hashlib
import random
import secrets
import uuid

KEY_PREFIX = "sk_sandbox_"


def new_id() -> str:
    """A random UUID string for objects created through the API."""
    return str(uuid.uuid4())


def seeded_id(rng: random.Random) -> str:
    """A UUID string drawn from ``rng``, so seeded data has the same ids every run."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def seeded_api_key(seed: int, ordinal: int) -> str:
    """The API key of the ``ordinal``-th seeded account: the same for the same seed."""
    digest = hashlib.sha256(f"votel-sandbox:{seed}:{ordinal}".encode()).hexdigest()
    return f"{KEY_PREFIX}{digest[:32]}"


def random_api_key() -> str:
    """A fresh API key for an account created at run time."""
    return f"{KEY_PREFIX}{secrets.token_hex(16)}"
