"""What one thread message costs in requests, by the size of the CRM: contact ids read by id
against the listing they replaced.

Per size N, one sandbox account holds N generated contacts (``admin.generate_contacts``) and a
day of N outbound SMS to them (``admin.generate_messages``), plus new contacts made afterwards,
whom none of those reached. In the same run, each in a fresh child, ``SendMessageOperator``
sends one SMS in a new contact's thread (no quiet hours, a cap of one a day):

- ``by_id``: today: the contact read by id, the STOP replies, the contact's sends of the day;
- ``listed``: the policy before (``MAX_RECIPIENTS_LOOKED_UP = 0`` in that child): every contact
  and the whole day's log listed.

Requests are the sandbox's count, from the first policy read to the ``POST``. No rate limit:
the figure is the request count, which does not depend on the machine.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from benchmarks.common import Figure, median, run_child, sandbox, votel_conn_env

NAME = "thread_message"
VARIANTS = {"by_id": "read by id", "listed": "listed (before)"}


def _seed(server: Any, contacts: int, runs: int) -> tuple[str, dict[tuple[str, int], str]]:
    """An account of ``contacts`` and a day of as many SMS, then per variant and run one new
    contact nobody texted yet (no cap holds its message back): the key, and (variant, run) ->
    that contact's id."""
    admin = server.admin
    key: str = admin.create_account(balance=1_000_000.0, seed=False)
    admin.generate_contacts(key, contacts)
    now = datetime.now(timezone.utc)  # the policy reads its log windows on the wall clock
    admin.generate_messages(key, contacts, now - timedelta(hours=23), now - timedelta(minutes=1))
    fresh = {}
    for n, slot in enumerate((variant, run) for run in range(runs) for variant in VARIANTS):
        # Even last digits: the sandbox's contacts whose number ends in 7 reply by themselves.
        made = requests.post(
            f"{server.base_url}/contacts",
            headers={"X-API-Key": key},
            json={"first_name": "Thread", "phone": f"+1415555{7300 + 2 * n:04d}"},
            timeout=30,
        )
        made.raise_for_status()
        fresh[slot] = str(made.json()["id"])
    return key, fresh


def run_thread_message(sizes: tuple[int, ...], runs: int) -> list[Figure]:
    """Per size, ``runs`` rounds of both children against one seeded account."""
    figures: list[Figure] = []
    with sandbox() as server:
        for contacts in sizes:
            key, fresh = _seed(server, contacts, runs)
            env = votel_conn_env(server.base_url, key)
            samples: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
            for run in range(runs):
                for variant in VARIANTS:
                    kwargs = {"contact_id": fresh[variant, run], "look_up": variant == "by_id", "run": run}
                    server.admin.reset_stats()
                    result = run_child("benchmarks.outreach_variants:thread", kwargs, env)
                    result["requests"] = server.admin.stats()["requests_total"]
                    samples[variant].append(result)
                    print(
                        f"  {contacts:>7,} contacts  run {run + 1}/{runs}  {variant:<7} "
                        f"{result['requests']:>5,} requests  {result['seconds']:.2f}s  sent {result['sent']}",
                        flush=True,
                    )
            for variant, label in VARIANTS.items():
                counts = [r["requests"] for r in samples[variant]]
                seconds = [r["seconds"] for r in samples[variant]]
                figures += [
                    Figure(NAME, f"{contacts:,} contacts, {label}: requests", median(counts), "",
                           samples=counts),
                    Figure(NAME, f"{contacts:,} contacts, {label}: wall time", median(seconds), "s",
                           samples=seconds),
                ]  # fmt: skip
    return figures


def main() -> None:
    for figure in run_thread_message((1_000, 10_000), 1):
        print(figure.line())


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"  done in {time.perf_counter() - started:.1f}s")
