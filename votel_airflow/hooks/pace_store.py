"""Where an account's pace lives: in the process, or in a small locked file every process of the
machine shares.

Eight extracts of a backfill that land on one Celery worker are eight processes. Paced apart, each
learns its own share from its own 429s: at start-up none has a pace yet, and each then probes
past its last 429, so a tight limit answers about one request in eight with a 429 (benchmarks,
fifth round). Sharing the pace makes the processes of one machine one flow: the first 429 paces
them all, one schedule spaces their requests, and the capacity a finished task leaves is taken by
the rest at once. Nothing new is needed for it: a file under the temporary directory, locked with
``flock`` for the few microseconds a slot takes. Processes on other machines cannot see the file;
between machines the pacers share the limit through the API's 429s, as before.

The file holds the pacer's state and nothing secret (the account is a digest of the key). A file
that cannot be created, locked or read, a platform without ``fcntl`` or the environment variable
:data:`DIR_VARIABLE` set to an empty string keeps the pace in the process: today's behaviour.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no flock, so every process paces alone
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: The environment variable naming the folder of shared paces; empty: keep paces per process.
DIR_VARIABLE = "VOTEL_PACING_DIR"
#: Seconds two readings of the boot time may differ before a file counts as another clock's:
#: monotonic time restarts at a reboot, and a state from before it would hold slots that never come.
CLOCK_TOLERANCE = 30.0

# The file is read and written four times per request (every slot, answer and episode check), and
# ``accepted`` holds a stamp per request of the last two seconds: a few hundred floats for an
# extract that is never refused. dataclasses.asdict (a deep copy) with the json module took 1-1.5 ms
# per pass there on a loaded machine; msgspec reads and writes the same JSON in tens of microseconds.
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass
class PaceState:
    """What a pacer knows of one account (see :class:`~votel_airflow.hooks.pacing.AdaptivePacer`)."""

    #: Requests/s, or None while unlimited.
    rate: float | None = None
    #: The pace when the last 429 came: what recovery aims at.
    ceiling: float | None = None
    next: float = 0.0
    last: float = 0.0
    first: float | None = None
    throttled_at: float = 0.0
    step: float = 0.0
    answered_since_429: bool = True
    grown_at: float = 0.0
    resumed: float = 0.0
    accepted: list[float] = field(default_factory=list)
    throttles: int = 0
    #: 429 episodes so far: a slot taken in an earlier one is void.
    episodes: int = 0
    #: The pacers (one per process) that took a slot lately, and when: how many flows this is.
    members: dict[str, float] = field(default_factory=dict)


class LocalPace:
    """The pace of one process: guarded by a lock, gone with the process."""

    shared = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = PaceState()

    @contextlib.contextmanager
    def session(self, *, save: bool = True) -> Iterator[PaceState]:
        """The state, for this thread alone until the block ends.

        :param save: False for a caller that only reads the state (nothing to save here).
        """
        with self._lock:
            yield self._state


class SharedPace:
    """The pace of every process of the machine that calls one account, in one locked file.

    :param path: the file (created on first use).
    :param clock: the pacer's monotonic clock, the same in every process of the machine.
    """

    shared = True

    def __init__(self, path: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        #: Set once the file failed: the pace then stays in the process.
        self._fallback: LocalPace | None = None

    @contextlib.contextmanager
    def session(self, *, save: bool = True) -> Iterator[PaceState]:
        """The state, for this thread and process alone until the block ends, then saved.

        :param save: False for a caller that only reads the state: the file is left as it was.
            Half the sessions of a request only read (the hook's episode checks), and each write
            is two more system calls, each a chance for another thread to take the GIL.
        """
        if self._fallback is not None:
            with self._fallback.session() as state:
                yield state
            return
        with self._lock:
            try:
                handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            except OSError as exc:
                yield from self._degrade(exc)
                return
            try:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                    state = self._load(handle)
                except OSError as exc:
                    yield from self._degrade(exc)
                    return
                yield state
                if save:
                    with contextlib.suppress(OSError):  # a lost write costs one relearned pace
                        self._save(handle, state)
            finally:
                os.close(handle)  # also releases the lock

    def _degrade(self, exc: OSError) -> Iterator[PaceState]:
        log.warning("Votel pacing: %s unusable (%s); pacing this process alone", self.path, exc)
        self._fallback = LocalPace()
        with self._fallback.session() as state:
            yield state

    def _boot(self) -> float:
        return time.time() - self._clock()

    def _load(self, handle: int) -> PaceState:
        raw = os.pread(handle, 1 << 16, 0)
        try:
            stored = _decode(raw)
            if abs(float(stored.pop("boot")) - self._boot()) > CLOCK_TOLERANCE:
                return PaceState()
            return PaceState(**stored)
        except (ValueError, TypeError, KeyError, AttributeError):
            # Empty (new, or a write cut short) or from another version: learn the pace afresh.
            return PaceState()

    def _save(self, handle: int, state: PaceState) -> None:
        # The same flat JSON object as before: processes of another version of the provider on the
        # machine still read it. A shallow copy is enough, the encoder only reads it.
        data = _encode({**vars(state), "boot": self._boot()})
        # Written over the old bytes, then cut to length: never truncated to zero first. ext4 takes
        # a file truncated to zero for one being replaced and flushes it to disk when it is closed
        # (auto_da_alloc), 3-4 ms per pass on a busy disk, four passes per request.
        os.pwrite(handle, data, 0)
        os.ftruncate(handle, len(data))


def shared_folder() -> Path | None:
    """The folder of this user's shared paces, or None when paces stay per process."""
    if fcntl is None:
        return None
    chosen = os.environ.get(DIR_VARIABLE)
    if chosen == "":
        return None
    folder = Path(chosen) if chosen else Path(tempfile.gettempdir()) / f"votel-pacing-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("Votel pacing: cannot use %s (%s); pacing each process alone", folder, exc)
        return None
    return folder


def pace_for(account: str) -> LocalPace | SharedPace:
    """Where the pace of ``account`` (a digest, never the key) lives for this process."""
    folder = shared_folder()
    return LocalPace() if folder is None else SharedPace(folder / f"{account}.json")
