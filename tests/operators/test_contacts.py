"""Contacts operators against the sandbox: bulk upsert (records, JSONL, CSV, resume), export,
stage moves, search, create and update; bad inputs fail before anything is sent or written."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    FakeStateStore,
    FakeTaskInstance,
    arm_commit_then_500,
    dagrun_task_states,
    link_of,
    make_context,
    run_dag,
    write_dag,
)
from votel_airflow import endpoints
from votel_airflow.compat import Asset
from votel_airflow.exceptions import VotelInputError, VotelServerError
from votel_airflow.hooks.votel import VotelHook
from votel_airflow.operators.contact_imports import MAX_CHUNK_BYTES, TooManyFailedRowsError
from votel_airflow.operators.contact_sources import chunked, encoded_size
from votel_airflow.operators.contacts import (
    ContactExportOperator,
    ContactSearchOperator,
    CreateContactOperator,
    DuplicateContactError,
    MoveContactStageOperator,
    UpdateContactOperator,
    UpsertContactsOperator,
)

IMPORTS_POSTED = "POST " + endpoints.CONTACT_IMPORTS


def people(count: int, start: int = 0) -> list[dict[str, Any]]:
    # UK drama numbers: never among the seeded (US) contacts.
    return [{"first_name": f"P{i}", "phone": f"+4477009{i:05d}"} for i in range(start, start + count)]


def contact_by_phone(phone: str) -> dict[str, Any]:
    matches = [
        c for c in VotelHook().paginate(endpoints.CONTACTS, params={"search": phone}) if c["phone"] == phone
    ]
    assert len(matches) == 1, matches
    return matches[0]


def upsert(**kwargs: Any) -> UpsertContactsOperator:
    kwargs.setdefault("poke_interval", 0.05)
    return UpsertContactsOperator(task_id="upsert", **kwargs)


# --- UpsertContactsOperator ---------------------------------------------------------------------


def test_upsert_creates_new_and_updates_matched_contacts(votel_connection):
    first = upsert(records=people(3)).execute(make_context())
    second = upsert(
        records=[{"first_name": "Renamed", "phone": "+447700900001"}, *people(1, start=3)]
    ).execute(make_context(ti=FakeTaskInstance(run_id="second")))

    assert {k: first[k] for k in ("rows", "created", "updated", "failed", "failed_rows")} == {
        "rows": 3, "created": 3, "updated": 0, "failed": 0, "failed_rows": [],
    }  # fmt: skip
    assert len(first["job_ids"]) == 1
    assert (second["created"], second["updated"]) == (1, 1)
    assert contact_by_phone("+447700900001")["first_name"] == "Renamed"
    assert json.loads(json.dumps(second)) == second


def test_upsert_reports_refused_rows_with_the_sandbox_detail_numbered_over_the_whole_input(votel_connection):
    rows = people(5)
    rows[1]["phone"] = "0800 123"
    rows[4] = {"phone": "+447700955555"}  # no first_name

    result = upsert(records=rows, chunk_size=2, max_failed_rows=2).execute(make_context())

    assert len(result["job_ids"]) == 3
    assert (result["created"], result["failed"]) == (3, 2)
    assert result["failed_rows"] == [
        {"row": 1, "detail": "invalid phone number '0800 123': use E.164, e.g. +14155552671"},
        {"row": 4, "detail": "first_name is required"},
    ]


def test_upsert_fails_when_refused_rows_exceed_max_failed_rows(votel_connection):
    rows = people(3)
    rows[0]["phone"] = "nope"
    rows[2]["phone"] = "+1"
    context = make_context()

    with pytest.raises(
        TooManyFailedRowsError,
        match=r"2 of 3 contact row\(s\) were refused, more than "
        r"max_failed_rows=1.*row 0: invalid phone number 'nope'",
    ) as info:
        upsert(records=rows, max_failed_rows=1).execute(context)

    assert info.value.summary["created"] == 1
    assert [f["row"] for f in context["ti"].xcoms["import_summary"]["failed_rows"]] == [0, 2]


def test_retried_upsert_reattaches_to_its_jobs_instead_of_importing_again(votel_sandbox, votel_connection):
    store = FakeStateStore()
    context = make_context(state_store=store)
    first = upsert(records=people(5), chunk_size=2).execute(context)
    votel_sandbox.admin.reset_stats()

    again = upsert(records=people(5), chunk_size=2).execute(make_context(state_store=store))

    assert again["job_ids"] == first["job_ids"]
    assert (again["created"], again["updated"]) == (5, 0)
    paths = votel_sandbox.admin.stats()["paths"]
    # The retry asked after its jobs (so the count below is of the right requests) and posted none.
    assert paths[f"GET {endpoints.CONTACT_IMPORT}"] >= 1, paths
    assert IMPORTS_POSTED not in paths, paths


def test_upsert_streams_a_gzipped_jsonl_source_in_chunks(votel_connection, tmp_path: Path):
    source = tmp_path / "leads.jsonl.gz"
    with gzip.open(source, "wt") as f:
        for row in people(7):
            f.write(json.dumps(row) + "\n\n")

    result = upsert(source=str(source), chunk_size=3).execute(make_context())

    assert (result["rows"], result["created"], len(result["job_ids"])) == (7, 7, 3)
    assert contact_by_phone("+447700900006")["first_name"] == "P6"


def test_upsert_reads_csv_tags_and_custom_fields(votel_connection, tmp_path: Path):
    source = tmp_path / "leads.csv"
    source.write_text(
        "first_name,last_name,phone,email,tags,custom_fields.plan\n"
        "Ada,Lovelace,+447700900100,ada@example.org,vip; early ,pro\n"
        "Alan,,+447700900101,,,\n",
        encoding="utf-8-sig",
    )

    result = upsert(source=str(source)).execute(make_context())

    assert (result["created"], result["failed"]) == (2, 0)
    ada = contact_by_phone("+447700900100")
    assert (ada["tags"], ada["custom_fields"], ada["email"]) == (
        ["vip", "early"],
        {"plan": "pro"},
        "ada@example.org",
    )
    assert contact_by_phone("+447700900101")["last_name"] is None


def test_upsert_match_on_must_be_phone_or_email():
    with pytest.raises(VotelInputError, match=r"match_on='name': is not one of \['email', 'phone'\]"):
        upsert(records=people(1), match_on="name")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"records": "not a list"}, r"records='not a list': must be a list of contact objects"),
        ({"records": [{"first_name": "A"}, 7]}, r"records=7: item\(s\) \[1\] are not objects"),
        ({"source": "/no/such/leads.csv"}, r"source='/no/such/leads.csv': does not exist"),
    ],
)
def test_upsert_bad_input_fails_before_any_request(votel_sandbox, votel_connection, kwargs, message):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=message):
        upsert(**kwargs).execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_upsert_malformed_jsonl_line_fails_before_the_first_chunk_is_sent(
    votel_sandbox, votel_connection, tmp_path: Path
):
    source = tmp_path / "leads.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in people(4)) + "{not json\n")
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"line 5 is not JSON"):
        upsert(source=str(source), chunk_size=2).execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_chunks_stay_under_the_request_body_limit_and_keep_every_row_in_order():
    rows = [{"first_name": "x" * 1000, "phone": f"+4477009{i:05d}"} for i in range(3000)]

    chunks = list(chunked(iter(rows), 5000, MAX_CHUNK_BYTES))

    assert len(chunks) > 1
    assert all(sum(encoded_size(r) for r in chunk) <= MAX_CHUNK_BYTES for _, chunk in chunks)
    assert [first for first, _ in chunks] == [sum(len(c) for _, c in chunks[:i]) for i in range(len(chunks))]
    assert [r for _, chunk in chunks for r in chunk] == rows


# --- ContactExportOperator ----------------------------------------------------------------------


def test_export_writes_the_matching_contacts_and_returns_the_manifest(votel_connection, tmp_path: Path):
    destination = tmp_path / "out" / "vip.jsonl"

    manifest = ContactExportOperator(
        task_id="export", destination=str(destination), filters={"tag": "vip"}, poke_interval=0.05
    ).execute(make_context())

    expected = [c["id"] for c in VotelHook().paginate(endpoints.CONTACTS, params={"tag": "vip"})]
    written = [json.loads(line)["id"] for line in destination.read_text().splitlines()]
    assert written == expected
    assert expected
    assert manifest["uri"] == f"file://{destination}"
    assert (manifest["records"], manifest["format"]) == (len(expected), "jsonl")
    assert manifest["export_id"]
    assert [p.name for p in destination.parent.iterdir()] == ["vip.jsonl"]


def test_a_static_export_destination_is_the_tasks_asset_and_a_templated_one_is_not(tmp_path: Path):
    static = ContactExportOperator(task_id="static", destination=str(tmp_path / "c.jsonl"))
    templated = ContactExportOperator(task_id="templated", destination=str(tmp_path / "{{ ds }}.jsonl"))
    declared = ContactExportOperator(task_id="declared", destination=str(tmp_path / "c.jsonl"), outlets=[])

    assert static.outlets == [Asset(f"file://{tmp_path}/c.jsonl")]
    assert templated.outlets == []
    assert declared.outlets == []


def test_export_with_an_unknown_filter_fails_before_starting_a_job(
    votel_sandbox, votel_connection, tmp_path: Path
):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(
        VotelInputError, match=r"filters=\{'stage': 'won'\}: has unknown name\(s\) \['stage'\]"
    ):
        ContactExportOperator(
            task_id="export", destination=str(tmp_path / "c.jsonl"), filters={"stage": "won"}
        ).execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0
    assert list(tmp_path.iterdir()) == []


# --- MoveContactStageOperator -------------------------------------------------------------------


def sales_pipeline() -> dict[str, Any]:
    return next(p for p in VotelHook().paginate(endpoints.PIPELINES) if p["stages"])


def test_move_stage_by_name_moves_each_contact_and_reports_unknown_ones(votel_connection):
    pipeline = sales_pipeline()
    stage = pipeline["stages"][1]
    ids = [c["id"] for c in VotelHook().paginate(endpoints.CONTACTS, params={"limit": 2}, page_size=2)][:2]

    result = MoveContactStageOperator(
        task_id="move", contact_ids=[*ids, "no-such-contact"], pipeline_id=pipeline["id"],
        stage_name=stage["name"].upper(),
    ).execute(make_context())  # fmt: skip

    assert result == {
        "moved": ids, "moved_count": len(ids), "not_found": ["no-such-contact"], "not_found_count": 1,
        "truncated": False, "results_uri": None, "pipeline_id": pipeline["id"], "stage_id": stage["id"],
    }  # fmt: skip
    for contact_id in ids:
        contact = VotelHook().get(endpoints.path(endpoints.CONTACT, contact_id=contact_id))
        assert (contact["pipeline_id"], contact["stage_id"]) == (pipeline["id"], stage["id"])


def test_move_stage_to_an_unknown_stage_fails_listing_the_stages_before_any_move(
    votel_sandbox, votel_connection
):
    pipeline = sales_pipeline()
    votel_sandbox.admin.reset_stats()

    with pytest.raises(
        VotelInputError, match=r"stage_name='Won!': is not a stage of pipeline .*Its stages are"
    ):
        MoveContactStageOperator(
            task_id="move", contact_ids="c-1", pipeline_id=pipeline["id"], stage_name="Won!"
        ).execute(make_context())

    assert not [p for p in votel_sandbox.admin.stats()["paths"] if p.endswith("/stage")]


# --- ContactSearchOperator ----------------------------------------------------------------------


def test_search_by_tag_returns_the_ids_in_batches_for_expand(votel_connection):
    expected = [c["id"] for c in VotelHook().paginate(endpoints.CONTACTS, params={"tag": "trial"})]

    batches = ContactSearchOperator(task_id="search", tag="trial", batch_size=20, page_size=7).execute(
        make_context()
    )

    assert [i for batch in batches for i in batch] == expected
    assert all(len(batch) == 20 for batch in batches[:-1])
    assert 0 < len(batches[-1]) <= 20


def test_search_matching_more_than_max_results_fails(votel_connection):
    with pytest.raises(
        VotelInputError, match=r"max_results=10: the search \{\} matches more than 10 contacts"
    ):
        ContactSearchOperator(task_id="search", max_results=10).execute(make_context())


def test_search_with_a_bad_updated_since_fails_before_any_request(votel_sandbox, votel_connection):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"updated_since='yesterday': is not an ISO 8601 date-time"):
        ContactSearchOperator(task_id="search", updated_since="yesterday").execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_search_by_dnd_returns_only_the_contacts_that_opted_out_of_anything(votel_connection):
    hook = VotelHook()
    everywhere = hook.request("POST", endpoints.CONTACTS, json={"first_name": "D", "dnd": True})
    by_sms = hook.request("POST", endpoints.CONTACTS, json={"first_name": "S", "dnd_channels": ["sms"]})

    opted_out = ContactSearchOperator(task_id="search", dnd="True").execute(make_context())
    reachable = ContactSearchOperator(task_id="search", dnd=False).execute(make_context())

    assert opted_out == [everywhere["id"], by_sms["id"]]
    assert len(reachable) > 100
    assert set(reachable).isdisjoint(opted_out)


def test_search_with_a_bad_dnd_fails_before_any_request(votel_sandbox, votel_connection):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"dnd='maybe': must be True or False"):
        ContactSearchOperator(task_id="search", dnd="maybe").execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


# --- CreateContactOperator / UpdateContactOperator ----------------------------------------------


def test_create_contact_returns_its_id_and_records_its_link(votel_connection):
    operator = CreateContactOperator(
        task_id="create", first_name="Grace", phone="+447700900200", tags=["vip"]
    )

    contact_id = operator.execute(make_context(task=operator))

    contact = VotelHook().get(endpoints.path(endpoints.CONTACT, contact_id=contact_id))
    assert (contact["first_name"], contact["tags"]) == ("Grace", ["vip"])
    assert link_of(operator).endswith(f"/contacts/{contact_id}")


def test_create_duplicate_contact_fails_clearly_or_updates_with_on_conflict_update(votel_connection):
    existing = CreateContactOperator(task_id="a", first_name="Grace", phone="+447700900201").execute(
        make_context()
    )

    with pytest.raises(DuplicateContactError, match=r"\+447700900201.*already exists.*on_conflict='update'"):
        CreateContactOperator(task_id="b", first_name="G", phone="+447700900201").execute(make_context())
    updated = CreateContactOperator(
        task_id="c", first_name="Grace", last_name="Hopper", phone="+447700900201", on_conflict="update"
    ).execute(make_context())

    assert updated == existing
    assert contact_by_phone("+447700900201")["last_name"] == "Hopper"


@pytest.mark.parametrize("phone", ["+447700900202", None], ids=["with-phone", "name-only"])
def test_create_contact_retry_after_a_500_after_commit_returns_the_contact_it_made(
    votel_sandbox, votel_connection, monkeypatch, phone
):
    # With a phone, a repeated POST meets a 409 on the contact it made itself; without one, it
    # makes a second contact. Either way the retry must return the first.
    operator = CreateContactOperator(task_id="create", first_name="Ada", last_name="Lovelace", phone=phone)
    arm_commit_then_500(votel_sandbox, monkeypatch)(endpoints.CONTACTS)
    with pytest.raises(VotelServerError):
        operator.execute(make_context())

    contact_id = operator.execute(make_context(ti=FakeTaskInstance(try_number=2)))

    adas = [c["id"] for c in VotelHook().paginate(endpoints.CONTACTS, params={"search": "Lovelace"})]
    assert adas == [contact_id]


def test_create_contact_retry_with_consent_in_any_order_finds_the_contact_it_made(
    votel_sandbox, votel_connection, monkeypatch
):
    # The API stores dnd_channels in its own order: the retry must still recognise its contact.
    operator = CreateContactOperator(
        task_id="create", first_name="Ada", last_name="Byron", dnd_channels=["call", "email", "sms"]
    )
    arm_commit_then_500(votel_sandbox, monkeypatch)(endpoints.CONTACTS)
    with pytest.raises(VotelServerError):
        operator.execute(make_context())

    contact_id = operator.execute(make_context(ti=FakeTaskInstance(try_number=2)))

    assert [c["id"] for c in VotelHook().paginate(endpoints.CONTACTS, params={"search": "Byron"})] == [
        contact_id
    ]


def test_create_contact_with_a_bad_phone_sends_nothing(votel_sandbox, votel_connection):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=r"phone: 1 number\(s\) are not E.164: \['555-0100'\]"):
        CreateContactOperator(task_id="create", first_name="X", phone="555-0100").execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_create_and_update_contact_pass_the_consent_fields_through(votel_connection):
    contact_id = CreateContactOperator(
        task_id="c", first_name="Ada", phone="+447700900310", dnd_channels=["call", "sms"],
        timezone="Europe/London",
    ).execute(make_context())  # fmt: skip
    created = contact_by_phone("+447700900310")
    assert (created["dnd"], created["dnd_channels"], created["timezone"]) == (
        False, ["sms", "call"], "Europe/London",
    )  # fmt: skip

    UpdateContactOperator(
        task_id="u", contact_id=contact_id,
        fields={"dnd": True, "dnd_channels": [], "timezone": "America/Chicago"},
    ).execute(make_context())  # fmt: skip

    updated = contact_by_phone("+447700900310")
    assert (updated["dnd"], updated["dnd_channels"], updated["timezone"]) == (True, [], "America/Chicago")


def test_create_contact_with_a_number_no_plan_allows_sends_nothing(votel_sandbox, votel_connection):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(
        VotelInputError, match=r"phone: 1 number\(s\) no numbering plan allows: \['\+44770090012345 "
    ):
        CreateContactOperator(task_id="create", first_name="X", phone="+44770090012345").execute(
            make_context()
        )

    assert votel_sandbox.admin.stats()["requests_total"] == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dnd": "sometimes"}, r"dnd='sometimes': must be True or False"),
        ({"dnd_channels": ["fax"]}, r"dnd_channels=\['fax'\]: must list channels from \['call', 'email'"),
        ({"timezone": "Mars/Olympus"}, r"timezone='Mars/Olympus': is not an IANA time zone name"),
    ],
)
def test_update_contact_with_bad_consent_sends_nothing(votel_sandbox, votel_connection, fields, message):
    votel_sandbox.admin.reset_stats()

    with pytest.raises(VotelInputError, match=message):
        UpdateContactOperator(task_id="u", contact_id="c1", fields=fields).execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_update_contact_changes_the_fields_and_refuses_unknown_ones(votel_sandbox, votel_connection):
    contact_id = CreateContactOperator(task_id="c", first_name="Ada", phone="+447700900300").execute(
        make_context()
    )

    assert (
        UpdateContactOperator(task_id="u", contact_id=contact_id, fields={"last_name": "King"}).execute(
            make_context()
        )
        == contact_id
    )
    votel_sandbox.admin.reset_stats()
    with pytest.raises(VotelInputError, match=r"fields=\{'stage': 'x'\}: has unknown name\(s\) \['stage'\]"):
        UpdateContactOperator(task_id="u", contact_id=contact_id, fields={"stage": "x"}).execute(
            make_context()
        )

    assert votel_sandbox.admin.stats()["requests_total"] == 0
    assert contact_by_phone("+447700900300")["last_name"] == "King"


# --- in a DAG run: templates, XComArgs, deferral ------------------------------------------------

DAG_SOURCE = """
import json
from datetime import timedelta
import pendulum
from airflow.sdk import DAG, task
from votel_airflow.operators.contacts import (
    ContactExportOperator, ContactSearchOperator, CreateContactOperator, MoveContactStageOperator,
    UpdateContactOperator, UpsertContactsOperator,
)

with DAG("contacts_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
         default_args={"retries": 0, "retry_delay": timedelta(0)}):
    leads = UpsertContactsOperator(
        task_id="upsert",
        records=[{"first_name": "{{ dag_run.conf['name'] }}", "phone": "{{ dag_run.conf['phone'] }}"}],
        deferrable=True, poke_interval=0.05,
    )
    from_file = UpsertContactsOperator(
        task_id="upsert_file", source="{{ dag_run.conf['out'] }}/leads.jsonl", deferrable=True,
        poke_interval=0.05,
    )
    found = ContactSearchOperator(task_id="search", search="{{ dag_run.conf['phone'] }}", tag="{{ None }}",
                                  updated_since="{{ dag_run.conf['since'] }}")
    move = MoveContactStageOperator(
        task_id="move", contact_ids=found.output, pipeline_id="{{ dag_run.conf['pipeline'] }}",
        stage_name="{{ dag_run.conf['stage'] }}",
    )
    export = ContactExportOperator(
        task_id="export", destination="{{ dag_run.conf['out'] }}/export.jsonl",
        filters={"search": "{{ dag_run.conf['phone'] }}"}, deferrable=True, poke_interval=0.05,
    )
    create = CreateContactOperator(
        task_id="create", first_name="{{ dag_run.conf['name'] }}", last_name="{{ 'L' }}",
        phone="{{ dag_run.conf['phone2'] }}", email="{{ 'e@example.org' }}", tags=["{{ 'vip' }}"],
        custom_fields={"plan": "{{ 'pro' }}"},
    )
    update = UpdateContactOperator(
        task_id="update", contact_id=create.output, fields={"last_name": "{{ 'M' }}"}
    )

    @task
    def keep(upserted, upserted_file, moved, manifest, created, dag_run=None):
        with open(dag_run.conf["out"] + "/result.json", "w") as f:
            json.dump({"upserted": upserted, "file": upserted_file, "moved": moved, "manifest": manifest,
                       "created": created}, f)

    leads >> from_file >> found
    move >> export
    keep(leads.output, from_file.output, move.output, export.output, update.output)
"""


def test_contacts_operators_render_templates_and_defer_inside_dag_test(
    airflow_db, votel_connection, dags, tmp_path
):
    pipeline = sales_pipeline()
    (tmp_path / "leads.jsonl").write_text(json.dumps({"first_name": "F", "phone": "+447700900401"}) + "\n")
    conf = {
        "name": "Templated", "phone": "+447700900400", "phone2": "+447700900402", "out": str(tmp_path),
        "since": "2000-01-01T00:00:00Z", "pipeline": pipeline["id"], "stage": pipeline["stages"][2]["name"],
    }  # fmt: skip
    write_dag(dags, DAG_SOURCE)

    dagrun = run_dag(dags, "contacts_dag", run_conf=conf)

    assert set(dagrun_task_states(dagrun).values()) == {"success"}, dagrun_task_states(dagrun)
    result = json.loads((tmp_path / "result.json").read_text())
    contact = contact_by_phone("+447700900400")
    assert contact["first_name"] == "Templated"
    assert (result["upserted"]["created"], result["file"]["created"]) == (1, 1)
    assert result["moved"]["moved"] == [contact["id"]]
    assert contact["stage_id"] == pipeline["stages"][2]["id"]
    assert result["manifest"]["records"] == 1
    assert json.loads((tmp_path / "export.jsonl").read_text())["id"] == contact["id"]
    created = contact_by_phone("+447700900402")
    assert result["created"] == created["id"]
    assert (created["last_name"], created["email"], created["tags"], created["custom_fields"]) == (
        "M", "e@example.org", ["vip"], {"plan": "pro"},
    )  # fmt: skip
