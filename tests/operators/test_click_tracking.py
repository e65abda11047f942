"""Click tracking against the sandbox: idempotent short links, click and conversion extracts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support import (
    FakeTaskInstance,
    arm_commit_then_500,
    dagrun_task_states,
    link_of,
    make_context,
    run_dag,
    write_dag,
)
from votel_airflow.exceptions import VotelInputError, VotelNotFoundError, VotelServerError
from votel_airflow.operators.click_tracking import (
    ClickExtractOperator,
    ConversionExtractOperator,
    CreateTrackingLinkOperator,
)


def api_list(sandbox: Any, api_key: str, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every record of a list endpoint, read directly (not through the provider)."""
    records: list[dict[str, Any]] = []
    while True:
        response = requests.get(
            f"{sandbox.base_url}{path}",
            headers={"X-API-Key": api_key},
            params={**params, "limit": 500, "offset": len(records)},
            timeout=30,
        )
        response.raise_for_status()
        page = response.json()
        records.extend(page)
        if len(page) < 500:
            return records


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_create_link_returns_id_and_short_url_of_the_new_link(votel_sandbox, votel_api_key, votel_connection):
    operator = CreateTrackingLinkOperator(
        task_id="link", name="Autumn sale", destination_url="https://example.com/autumn?utm=sms"
    )

    result = operator.execute(make_context(task=operator))

    [stored] = [
        link
        for link in api_list(votel_sandbox, votel_api_key, "/tracking-links")
        if link["name"] == "Autumn sale"
    ]
    assert result == {
        "id": stored["id"],
        "short_url": stored["short_url"],
        "name": "Autumn sale",
        "destination_url": "https://example.com/autumn?utm=sms",
        "created": True,
    }
    assert link_of(operator).endswith(f"/tracking-links/{stored['id']}")


def test_create_link_after_a_500_after_commit_makes_one_link_and_its_retry_returns_it(
    votel_sandbox, votel_api_key, votel_connection, monkeypatch
):
    operator = CreateTrackingLinkOperator(
        task_id="link", name="Spring sale", destination_url="https://example.com/s"
    )
    arm_commit_then_500(votel_sandbox, monkeypatch)("/tracking-links")
    with pytest.raises(VotelServerError):
        operator.execute(make_context(task=operator))

    result = operator.execute(make_context(task=operator, ti=FakeTaskInstance(try_number=2)))

    links = [
        x for x in api_list(votel_sandbox, votel_api_key, "/tracking-links") if x["name"] == "Spring sale"
    ]
    assert [x["id"] for x in links] == [result["id"]]


def test_create_link_reuses_the_link_with_the_same_name_and_destination(
    votel_sandbox, votel_api_key, votel_connection
):
    kwargs = {"name": "Webinar", "destination_url": "https://example.com/webinar"}
    first = CreateTrackingLinkOperator(task_id="link", **kwargs).execute(make_context())
    votel_sandbox.admin.reset_stats()

    # Another run of the DAG: a different task instance, so only the lookup can prevent a copy.
    again = CreateTrackingLinkOperator(task_id="link", **kwargs).execute(
        make_context(ti=FakeTaskInstance(run_id="scheduled__2026-11-02T00:00:00+00:00"))
    )

    assert again == {**first, "created": False}
    assert "POST /tracking-links" not in votel_sandbox.admin.stats()["paths"]
    named = [
        link
        for link in api_list(votel_sandbox, votel_api_key, "/tracking-links")
        if link["name"] == "Webinar"
    ]
    assert len(named) == 1


def test_create_link_makes_a_new_link_when_the_destination_differs(
    votel_sandbox, votel_api_key, votel_connection
):
    first = CreateTrackingLinkOperator(
        task_id="link", name="Promo", destination_url="https://example.com/a"
    ).execute(make_context())
    second = CreateTrackingLinkOperator(
        task_id="link", name="Promo", destination_url="https://example.com/b"
    ).execute(make_context(ti=FakeTaskInstance(task_id="other")))

    assert second["created"] is True
    assert second["id"] != first["id"]


@pytest.mark.parametrize(
    "url", ["example.com/landing", "ftp://example.com/file", "https:///no-host", "https://example.com/a b"]
)
def test_create_link_rejects_a_destination_that_is_not_an_http_url(url: str):
    with pytest.raises(VotelInputError, match=r"destination_url="):
        CreateTrackingLinkOperator(task_id="link", name="Bad", destination_url=url)


def test_create_link_rejects_a_rendered_bad_url_before_any_request(
    votel_sandbox, votel_api_key, votel_connection
):
    operator = CreateTrackingLinkOperator(task_id="link", name="Bad", destination_url="{{ params.url }}")
    operator.destination_url = "javascript:alert(1)"  # as rendered
    votel_sandbox.admin.reset_stats()

    with pytest.raises(
        VotelInputError, match=r"destination_url='javascript:alert\(1\)': is not an absolute http"
    ):
        operator.execute(make_context())

    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_created_short_url_renders_into_a_downstream_message_template(
    tmp_path: Path, dags: Path, airflow_db, votel_sandbox, votel_api_key, votel_connection
):
    out = tmp_path / "body.txt"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.click_tracking import CreateTrackingLinkOperator

        with DAG("link_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"campaign": "winter"}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            link = CreateTrackingLinkOperator(
                task_id="link", name="{{{{ params.campaign }}}} landing",
                destination_url="https://example.com/{{{{ params.campaign }}}}",
            )

            @task(templates_dict={{"body": "Book now: {{{{ ti.xcom_pull('link')['short_url'] }}}}"}})
            def keep(templates_dict=None):
                open({str(out)!r}, "w").write(templates_dict["body"])

            link >> keep()
        """,
    )

    dagrun = run_dag(dags, "link_dag")

    assert dagrun_task_states(dagrun) == {"link": "success", "keep": "success"}
    [stored] = [
        link
        for link in api_list(votel_sandbox, votel_api_key, "/tracking-links")
        if link["name"] == "winter landing"
    ]
    assert stored["destination_url"] == "https://example.com/winter"
    assert out.read_text() == f"Book now: {stored['short_url']}"


def _click_window(sandbox: Any, api_key: str) -> tuple[str, str, list[dict[str, Any]]]:
    """A window over the seeded links' clicks, and every click of every link."""
    links = sorted(link["id"] for link in api_list(sandbox, api_key, "/tracking-links"))
    clicks = [c for link in links for c in api_list(sandbox, api_key, f"/tracking-links/{link}/clicks")]
    stamps = sorted(c["created_at"] for c in clicks)
    return stamps[len(stamps) // 4], stamps[-1], clicks


def test_click_extract_of_one_link_writes_its_clicks_in_the_window(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    since, until, clicks = _click_window(votel_sandbox, votel_api_key)
    link_id = clicks[0]["link_id"]
    expected = api_list(
        votel_sandbox, votel_api_key, f"/tracking-links/{link_id}/clicks", since=since, until=until
    )
    destination = tmp_path / "clicks.jsonl"

    manifest = ClickExtractOperator(
        task_id="clicks", link_id=link_id, destination=str(destination), since=since, until=until, page_size=9
    ).execute(make_context())

    assert read_jsonl(destination) == expected
    assert expected
    assert all(row["link_id"] == link_id for row in expected)
    assert manifest["records"] == len(expected)
    assert manifest["links"] == 1


def test_click_extract_without_a_link_writes_every_links_clicks_in_link_order(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    since, until, clicks = _click_window(votel_sandbox, votel_api_key)
    links = sorted({c["link_id"] for c in clicks})
    expected = [
        row
        for link in links
        for row in api_list(
            votel_sandbox, votel_api_key, f"/tracking-links/{link}/clicks", since=since, until=until
        )
    ]
    destination = tmp_path / "all-clicks.jsonl"

    manifest = ClickExtractOperator(
        task_id="clicks", destination=str(destination), since=since, until=until
    ).execute(make_context())

    assert read_jsonl(destination) == expected
    assert 0 < manifest["records"] == len(expected) < len(clicks)
    assert manifest["links"] == len(links)


def test_click_extract_of_an_unknown_link_fails_and_leaves_no_file(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    destination = tmp_path / "clicks.jsonl"
    operator = ClickExtractOperator(
        task_id="clicks",
        link_id="00000000-0000-4000-8000-000000000000",
        destination=str(destination),
        since="2024-01-01T00:00:00Z",
        until="2025-02-01T00:00:00Z",
    )

    with pytest.raises(VotelNotFoundError, match="Tracking link not found"):
        operator.execute(make_context())

    assert list(tmp_path.iterdir()) == []


def test_click_extract_rejects_a_blank_link_id_at_parse_time(tmp_path: Path):
    with pytest.raises(VotelInputError, match=r"link_id='  ': must be a non-empty id"):
        ClickExtractOperator(task_id="clicks", link_id="  ", destination=str(tmp_path / "c.jsonl"))


def test_conversion_extract_writes_the_window_and_returns_the_manifest(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    everything = api_list(votel_sandbox, votel_api_key, "/conversions")
    stamps = sorted(c["created_at"] for c in everything)
    since, until = stamps[3], stamps[-2]
    expected = api_list(votel_sandbox, votel_api_key, "/conversions", since=since, until=until)
    destination = tmp_path / "conversions.parquet"

    manifest = ConversionExtractOperator(
        task_id="conversions", destination=str(destination), since=since, until=until, format="parquet"
    ).execute(make_context())

    import pyarrow.parquet as pq

    assert pq.read_table(str(destination)).column("id").to_pylist() == [c["id"] for c in expected]
    assert 0 < len(expected) < len(everything)
    assert manifest["records"] == len(expected)
    assert manifest["format"] == "parquet"


def test_conversion_extract_rejects_an_unknown_filter_before_any_request(
    tmp_path: Path, votel_sandbox, votel_api_key, votel_connection
):
    votel_sandbox.admin.reset_stats()
    operator = ConversionExtractOperator(
        task_id="conversions",
        destination=str(tmp_path / "c.jsonl"),
        since="2024-01-01T00:00:00Z",
        until="2025-01-01T00:00:00Z",
        filters={"source": "google"},
    )

    with pytest.raises(VotelInputError, match=r"filters=\{'source': 'google'\}: has unknown name"):
        operator.execute(make_context())

    assert list(tmp_path.iterdir()) == []
    assert votel_sandbox.admin.stats()["requests_total"] == 0


def test_click_and_conversion_extracts_render_their_templated_fields_in_a_dag_run(
    tmp_path: Path, dags: Path, airflow_db, votel_sandbox, votel_api_key, votel_connection
):
    since, until, clicks = _click_window(votel_sandbox, votel_api_key)
    link_id = clicks[0]["link_id"]
    out = tmp_path / "out"
    write_dag(
        dags,
        f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from votel_airflow.operators.click_tracking import ClickExtractOperator, ConversionExtractOperator

        with DAG("clicks_dag", schedule=None, start_date=datetime(2026, 1, 1),
                 params={{"link": {link_id!r}, "since": {since!r}, "until": {until!r}, "out": {str(out)!r}}},
                 default_args={{"retries": 0, "retry_delay": timedelta(0)}}):
            clicks = ClickExtractOperator(
                task_id="clicks", link_id="{{{{ params.link }}}}",
                destination="{{{{ params.out }}}}/clicks-{{{{ params.link[:8] }}}}.jsonl",
                since="{{{{ params.since }}}}", until="{{{{ params.until }}}}",
            )
            conversions = ConversionExtractOperator(
                task_id="conversions", destination="{{{{ params.out }}}}/conversions.jsonl",
                since="{{{{ params.since }}}}", until="{{{{ params.until }}}}",
            )

            @task
            def keep(clicks, conversions):
                import json
                open({str(tmp_path / "manifests.json")!r}, "w").write(json.dumps([clicks, conversions]))

            keep(clicks.output, conversions.output)
        """,
    )

    dagrun = run_dag(dags, "clicks_dag")

    assert dagrun_task_states(dagrun) == {"clicks": "success", "conversions": "success", "keep": "success"}
    clicks_manifest, conversions_manifest = json.loads((tmp_path / "manifests.json").read_text())
    expected_clicks = api_list(
        votel_sandbox, votel_api_key, f"/tracking-links/{link_id}/clicks", since=since, until=until
    )
    assert read_jsonl(out / f"clicks-{link_id[:8]}.jsonl") == expected_clicks
    assert clicks_manifest["records"] == len(expected_clicks)
    expected_conversions = api_list(votel_sandbox, votel_api_key, "/conversions", since=since, until=until)
    assert read_jsonl(out / "conversions.jsonl") == expected_conversions
    assert conversions_manifest["records"] == len(expected_conversions)
