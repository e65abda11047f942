"""Watchers that run beside a scenario: what a reader of the bucket sees, a process group's memory."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

#: Every temporary name the provider writes starts with a dot (``.calls.jsonl.<uuid>.tmp``).
TEMPORARY_MARKERS = ("/.", ".tmp")


def is_temporary(key: str) -> bool:
    return any(marker in f"/{key}" for marker in TEMPORARY_MARKERS)


_S = TypeVar("_S", bound="Sampler")


class Sampler:
    """Calls :meth:`sample` every ``interval`` seconds in a thread, while the ``with`` block runs.

    :param interval: seconds between samples.
    """

    name = "sampler"

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def __enter__(self: _S) -> _S:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self.samples += 1
            self._stop.wait(self._interval)

    def sample(self) -> None:
        raise NotImplementedError


class BucketWatcher(Sampler):
    """Lists the bucket again and again, as a reader racing the writers would.

    Records every key seen with each size it was seen at. A temporary key, or a key first seen at
    a size other than its final one, is a partial object a reader could have picked up. A listing
    that fails saw nothing: it is kept in ``errors``, and :meth:`assert_watched` fails on it, so a
    watcher that could not read the bucket cannot pass for one that saw nothing wrong.

    :param list_keys: returns ``{key: size}`` for the watched prefix.
    :param interval: seconds between listings.
    """

    name = "bucket-watcher"

    def __init__(self, list_keys: Callable[[], dict[str, int]], interval: float = 0.1) -> None:
        super().__init__(interval)
        self._list = list_keys
        self.sizes: dict[str, set[int]] = {}
        self.listings = 0
        self.errors: list[str] = []

    def sample(self) -> None:
        # Caught to keep the thread listing, never dropped: assert_watched reports them.
        try:
            listed = self._list()
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
            return
        for key, size in listed.items():
            self.sizes.setdefault(key, set()).add(size)
        self.listings += 1

    def wait_for_a_listing(self, timeout: float = 30.0) -> None:
        """Block until one more listing than now has completed: it saw the bucket as it is now."""
        done = self.listings
        wait_until("one more listing of the bucket", lambda: self.listings > done, timeout, 0.05)

    def assert_watched(self, final: dict[str, int], min_listings: int) -> None:
        """Fail unless the bucket was listed often, without an error, and every final key was seen.

        A final key never seen means the watching stopped before the writes it was there to watch.
        """
        assert self.errors == [], f"{len(self.errors)} listings failed, the first: {self.errors[0]}"
        assert self.listings >= min_listings, f"the bucket was listed only {self.listings} times"
        unseen = sorted(set(final) - set(self.sizes))
        assert unseen == [], f"the watcher never saw {unseen}"

    def temporary_keys(self) -> list[str]:
        return sorted(k for k in self.sizes if is_temporary(k))

    def keys_seen_at_other_sizes(self, final: dict[str, int]) -> dict[str, list[int]]:
        """Keys seen at a size other than their final size: partial objects."""
        return {k: sorted(sizes) for k, sizes in self.sizes.items() if k in final and sizes != {final[k]}}


class PeakRss(Sampler):
    """Samples the summed resident memory of a set of processes; keeps the peak.

    :param pids: returns the process ids to sum over (sampled again at each tick).
    :param interval: seconds between samples.
    """

    name = "rss-sampler"

    def __init__(self, pids: Callable[[], set[int]], interval: float = 0.5) -> None:
        super().__init__(interval)
        self._pids = pids
        self.peak_bytes = 0

    def sample(self) -> None:
        import psutil

        total = 0
        for pid in self._pids():
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        self.peak_bytes = max(self.peak_bytes, total)


def wait_until(what: str, check: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
    """Poll ``check`` until it returns something true; that value. Fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def figure(scenario: str, **values: Any) -> None:
    """Print a scenario's figures on one line, for the run's output and the report."""
    shown = ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())
    print(f"\n[e2e figures] {scenario}: {shown}", flush=True)
    with contextlib.suppress(OSError), open(os.environ.get("VOTEL_E2E_FIGURES", os.devnull), "a") as out:
        out.write(f"{scenario}: {shown}\n")
