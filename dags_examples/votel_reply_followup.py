"""Reply follow-up: each inbound SMS starts this DAG; STOP opts the sender out, other replies reach a person.

Shows event-driven scheduling: the DAG is scheduled on an asset that an ``AssetWatcher`` fills with
``VotelEventTrigger(event="message.inbound", filters={"channel": "sms"})``, so a reply starts a run
within one poll, with no DAG polling every minute. Each reply (the messaging-log row, in the asset
event's ``extra["payload"]``) is sorted by its text:

* an opt-out keyword (STOP, UNSUBSCRIBE, ...; the same set the outreach policy reads,
  ``votel_airflow.defaults.STOP_KEYWORDS``) adds ``sms`` to the contact's ``dnd_channels``, and an
  opt-in keyword (START, UNSTOP) removes it, so the contact's flags agree with the policy;
* any other reply becomes a CRM task for a person, once: the task carries the reply's id, and a
  reply whose task exists already (the same event delivered twice) gets no second one.

A run by hand (no asset event) handles the replies given in the ``replies`` param.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, AssetWatcher, Param, task

from votel_airflow.defaults import START_KEYWORDS, STOP_KEYWORDS
from votel_airflow.operators.contacts import UpdateContactOperator
from votel_airflow.operators.tasks import CreateTaskOperator
from votel_airflow.triggers.events import VotelEventTrigger

DEFAULT_CONN_ID = os.environ.get("VOTEL_CONN_ID", "votel_default")
VOTEL_CONN_ID = "{{ params.votel_conn_id }}"
POLL_INTERVAL = float(os.environ.get("VOTEL_EXAMPLES_EVENT_POLL_INTERVAL", "30"))
RETRY_DELAY = timedelta(seconds=float(os.environ.get("VOTEL_EXAMPLES_RETRY_DELAY", "60")))
#: The custom field naming the reply a follow-up task was made for.
REPLY_FIELD = "votel_reply_id"

# --8<-- [start:watcher]
INBOUND_SMS = Asset(
    "votel_inbound_sms",
    watchers=[
        AssetWatcher(
            name="votel_inbound_sms_watcher",
            trigger=VotelEventTrigger(
                event="message.inbound",
                votel_conn_id=DEFAULT_CONN_ID,
                filters={"channel": "sms"},
                poll_interval=POLL_INTERVAL,
            ),
        )
    ],
)
# --8<-- [end:watcher]


def keyword(reply: dict[str, Any]) -> str | None:
    """``stop``, ``start`` or None: the reply's text, trimmed and in any case, against the policy's sets."""
    word = str(reply.get("body") or "").strip().upper()
    return "stop" if word in STOP_KEYWORDS else "start" if word in START_KEYWORDS else None


with DAG(
    dag_id="votel_reply_followup",
    description="Inbound SMS: STOP -> dnd_channels gets sms; any other reply -> a task for a person.",
    schedule=[INBOUND_SMS],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    # One run at a time: a reply delivered twice is then handled by two runs in turn, and the
    # second sees the first one's task.
    max_active_runs=1,
    tags=["votel", "example", "events", "sms"],
    default_args={
        # Safe to retry: the PATCH sets values, and CreateTaskOperator creates each task once.
        "retries": 2,
        "retry_delay": RETRY_DELAY,
    },
    params={
        "votel_conn_id": Param(DEFAULT_CONN_ID, type="string", description="The Votel connection."),
        "replies": Param([], type="array", description="Messaging-log rows to handle in a run by hand."),
    },
    doc_md=__doc__
    + """
### What to look at
`read_replies` lists the replies of the run (one asset event each: several replies that arrive
between two runs start one run), and those stored since its first event that Airflow gave no run.
`opt_out` has one instance per keyword reply from a known contact; `create_follow_up_tasks` makes
one task per other reply, titled with the sender and the text.

The watcher's connection is `$VOTEL_CONN_ID` (default `votel_default`), read when the DAG is
parsed: a trigger's arguments are not templated.
""",
) as dag:

    @task(inlets=[INBOUND_SMS])
    def read_replies(
        triggering_asset_events: Any = None, inlet_events: Any = None, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The replies this run handles: its asset events' payloads, else the ``replies`` param."""
        events = list(triggering_asset_events[INBOUND_SMS]) if triggering_asset_events else []
        if events and inlet_events is not None:
            # Airflow gives a run the events stored up to the moment its run was queued; those
            # stored between then and the run's creation belong to no run until a later event
            # queues one. So read the asset's events since this run's first one too: a reply
            # handled by an earlier run gets no second task (follow_up_tasks checks).
            first = min(e.timestamp for e in events)
            stored = inlet_events[INBOUND_SMS]
            if hasattr(stored, "after"):  # 3.2+: only those events are fetched
                stored = stored.after(first.isoformat())
            events += [e for e in stored if e.timestamp >= first]
        replies: dict[str, dict[str, Any]] = {}
        for event in events:
            payload = (event.extra or {}).get("payload")
            if isinstance(payload, dict):
                replies.setdefault(str(payload.get("id")), payload)
        return list(replies.values()) or list((params or {}).get("replies") or [])

    @task
    def consent_changes(
        replies: list[dict[str, Any]], params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """``{contact_id, fields}`` per keyword reply: its ``dnd_channels`` with ``sms`` added or removed."""
        from votel_airflow.hooks.votel import VotelHook

        hook = VotelHook((params or {}).get("votel_conn_id", DEFAULT_CONN_ID))
        changes = []
        for reply in replies:
            word = keyword(reply)
            if word is None or not reply.get("contact_id"):
                # A keyword from a number that is no contact still counts: the outreach policy reads
                # STOP replies from the messaging logs by number.
                continue
            channels = set(hook.get_contact(reply["contact_id"]).get("dnd_channels") or [])
            channels = channels | {"sms"} if word == "stop" else channels - {"sms"}
            changes.append({"contact_id": reply["contact_id"], "fields": {"dnd_channels": sorted(channels)}})
        return changes

    @task
    def follow_up_tasks(
        replies: list[dict[str, Any]], params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """One task spec per reply that is no keyword and has no task yet."""
        from votel_airflow import endpoints
        from votel_airflow.hooks.votel import VotelHook

        hook = VotelHook((params or {}).get("votel_conn_id", DEFAULT_CONN_ID))
        others = [r for r in replies if keyword(r) is None]
        if not others:
            return []
        # An asset event may be delivered twice (a triggerer lost just after storing it): a reply
        # that already has its task gets none again.
        done = {(t.get("custom_fields") or {}).get(REPLY_FIELD) for t in hook.paginate(endpoints.TASKS)}
        return [
            {
                "title": f"Reply from {r.get('from') or 'unknown'}: {str(r.get('body') or '')[:120]}",
                **({"contact_id": r["contact_id"]} if r.get("contact_id") else {}),
                "custom_fields": {REPLY_FIELD: r["id"]},
            }
            for r in others
            if r["id"] not in done
        ]

    replies = read_replies()
    UpdateContactOperator.partial(task_id="opt_out", votel_conn_id=VOTEL_CONN_ID).expand_kwargs(
        consent_changes(replies)
    )
    CreateTaskOperator(
        task_id="create_follow_up_tasks", votel_conn_id=VOTEL_CONN_ID, tasks=follow_up_tasks(replies)
    )
