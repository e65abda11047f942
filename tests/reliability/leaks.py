"""Find an API key, or any 8-character slice of its secret part, in text."""

from __future__ import annotations

from collections.abc import Iterable

#: The sandbox's keys share this public prefix; only slices reaching past it are secret.
PUBLIC_PREFIX = "sk_sandbox_"
SLICE = 8


def key_fragments(api_key: str) -> set[str]:
    """The full key and every 8-character slice that holds at least one secret character."""
    public = len(PUBLIC_PREFIX) if api_key.startswith(PUBLIC_PREFIX) else len("sk_")
    slices = {api_key[i : i + SLICE] for i in range(len(api_key) - SLICE + 1) if i + SLICE > public}
    return {api_key, *slices}


def leaks(api_key: str, texts: Iterable[tuple[str, str]]) -> list[str]:
    """``where: fragment`` for every ``(where, text)`` that holds part of the key."""
    fragments = key_fragments(api_key)
    found = []
    for where, text in texts:
        hit = next((fragment for fragment in fragments if fragment in text), None)
        if hit is not None:
            found.append(f"{where}: {hit!r}")
    return found
