"""Contacts: CRUD, 404/409/422 details, search and tags, import and export jobs, stages."""

from __future__ import annotations

import requests

from tests.sandbox.conftest import Api, wait_for


def test_create_returns_201_with_id_and_fields(api: Api):
    body = {"first_name": "Ada", "last_name": "L", "phone": "+442071234567", "tags": ["vip"]}
    contact = api.ok("POST", "/contacts", 201, json=body)
    assert contact["first_name"] == "Ada"
    assert contact["phone"] == "+442071234567"
    assert api.ok("GET", f"/contacts/{contact['id']}") == contact


def test_unknown_contact_is_404_lead_not_found(api: Api):
    for method in ("GET", "PATCH", "DELETE"):
        kwargs = {"json": {"first_name": "x"}} if method == "PATCH" else {}
        response = api.request(method, "/contacts/00000000-0000-4000-8000-000000000000", **kwargs)
        assert response.status_code == 404
        assert response.json() == {"detail": "Lead not found"}


def test_duplicate_phone_is_409(api: Api):
    api.ok("POST", "/contacts", 201, json={"first_name": "A", "phone": "+14155550142"})
    response = api.post("/contacts", json={"first_name": "B", "phone": "+14155550142"})
    assert response.status_code == 409
    assert response.json() == {"detail": "A contact with this phone already exists"}


def test_duplicate_email_is_409_also_on_update(api: Api):
    api.ok("POST", "/contacts", 201, json={"first_name": "A", "email": "a@x.test"})
    other = api.ok("POST", "/contacts", 201, json={"first_name": "B", "email": "b@x.test"})
    response = api.patch(f"/contacts/{other['id']}", json={"email": "a@x.test"})
    assert response.status_code == 409
    assert "email" in response.json()["detail"]
    assert api.ok("GET", f"/contacts/{other['id']}")["email"] == "b@x.test"


def test_phone_must_be_e164(api: Api):
    for bad in ("4155552671", "+0123456789", "+1415", "+1 415 555 2671", "+14155552671000000"):
        response = api.post("/contacts", json={"first_name": "A", "phone": bad})
        assert response.status_code == 422, bad
        assert response.json()["detail"][0]["loc"] == ["body", "phone"]


def test_missing_first_name_is_422_list(api: Api):
    response = api.post("/contacts", json={"last_name": "only"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "first_name"]


def test_unknown_body_field_is_422(api: Api):
    response = api.post("/contacts", json={"first_name": "A", "favourite": "blue"})
    assert response.status_code == 422


def test_invalid_json_body_is_422(api: Api):
    response = api.post("/contacts", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422


def test_undecodable_body_is_400_not_a_crash(api: Api):
    response = api.post("/contacts", data=b"\xab\xb3", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json() == {"detail": "There was an error parsing the body"}


def test_lone_surrogate_in_a_field_is_422_not_a_crash(api: Api):
    response = api.post(
        "/contacts",
        data=b'{"first_name": "\\ud800"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_patch_updates_only_given_fields_and_updated_at(api: Api):
    contact = api.ok("POST", "/contacts", 201, json={"first_name": "A", "last_name": "B"})
    updated = api.ok("PATCH", f"/contacts/{contact['id']}", json={"last_name": "C"})
    assert updated["first_name"] == "A"
    assert updated["last_name"] == "C"
    assert updated["updated_at"] >= contact["updated_at"]


def test_delete_then_get_is_404(api: Api):
    contact = api.ok("POST", "/contacts", 201, json={"first_name": "Gone"})
    assert api.delete(f"/contacts/{contact['id']}").status_code == 204
    assert api.get(f"/contacts/{contact['id']}").status_code == 404


def test_search_matches_name_phone_and_email_case_insensitively(api: Api):
    c = api.ok(
        "POST", "/contacts", 201,
        json={"first_name": "Quentin", "phone": "+14155559876", "email": "q@quux.test"},
    )  # fmt: skip
    for term in ("QUENTIN", "9876", "quux"):
        assert [x["id"] for x in api.ok("GET", "/contacts", params={"search": term})] == [c["id"]]


def test_tag_filter_returns_only_tagged_contacts(api: Api):
    vip = api.ok("GET", "/contacts", params={"tag": "vip", "limit": 500})
    assert vip
    assert all("vip" in c["tags"] for c in vip)
    assert len(vip) < 200


def test_updated_since_filter(api: Api):
    contact = api.ok("POST", "/contacts", 201, json={"first_name": "New"})
    recent = api.ok("GET", "/contacts", params={"updated_since": contact["updated_at"]})
    assert [c["id"] for c in recent] == [contact["id"]]


def _wait_job(api: Api, path: str) -> dict:
    return wait_for(lambda: (job := api.ok("GET", path))["status"] == "completed" and job)


def test_import_job_moves_pending_processing_completed(unhurried_api: Api):
    api = unhurried_api
    rows = [{"first_name": "Imp", "phone": "+14155550300"}]
    job = api.ok("POST", "/contacts/imports", 202, json={"contacts": rows, "match_on": "phone"})
    assert job["status"] == "pending"
    seen = {job["status"]}
    done = wait_for(
        lambda: (
            seen.add((j := api.ok("GET", f"/contacts/imports/{job['id']}"))["status"])
            or (j["status"] == "completed" and j)
        )
    )
    assert "processing" in seen
    assert done["created"] == 1
    assert done["updated"] == 0
    assert done["failed_rows"] == []


def test_import_upserts_by_phone_and_reports_failed_rows(api: Api):
    existing = api.ok("POST", "/contacts", 201, json={"first_name": "Old", "phone": "+14155550400"})
    rows = [
        {"first_name": "Updated", "phone": "+14155550400", "tags": ["trial"]},
        {"first_name": "Fresh", "phone": "+14155550401"},
        {"first_name": "BadPhone", "phone": "555-0100"},
        {"phone": "+14155550402"},
        {"first_name": "NoKey", "email": "nokey@x.test"},
    ]
    job = api.ok("POST", "/contacts/imports", 202, json={"contacts": rows, "match_on": "phone"})
    done = _wait_job(api, f"/contacts/imports/{job['id']}")
    assert done["created"] == 1
    assert done["updated"] == 1
    failed = {f["row"]: f["detail"] for f in done["failed_rows"]}
    assert sorted(failed) == [2, 3, 4]
    assert "phone" in failed[2]
    assert "first_name" in failed[3]
    assert "phone" in failed[4]
    after = api.ok("GET", f"/contacts/{existing['id']}")
    assert after["first_name"] == "Updated"
    assert after["tags"] == ["trial"]
    assert api.ok("GET", "/contacts", params={"search": "+14155550401"})[0]["first_name"] == "Fresh"


def test_import_matching_on_email(api: Api):
    api.ok("POST", "/contacts", 201, json={"first_name": "E", "email": "match@x.test"})
    rows = [{"first_name": "E2", "email": "match@x.test"}, {"first_name": "E3", "email": "new@x.test"}]
    job = api.ok("POST", "/contacts/imports", 202, json={"contacts": rows, "match_on": "email"})
    done = _wait_job(api, f"/contacts/imports/{job['id']}")
    assert (done["created"], done["updated"]) == (1, 1)


def test_import_does_not_apply_before_completion(make_api):
    api = make_api(seed=False)
    rows = [{"first_name": "Later", "phone": "+14155550500"}]
    api.ok("POST", "/contacts/imports", 202, json={"contacts": rows})
    assert api.ok("GET", "/contacts") == []
    wait_for(lambda: api.ok("GET", "/contacts"))


def test_unknown_import_is_404(api: Api):
    assert api.get("/contacts/imports/nope").status_code == 404


def test_export_job_gives_row_count_and_downloadable_jsonl(api: Api):
    job = api.ok("POST", "/contacts/exports", 202, json={"filters": {"tag": "vip"}})
    assert job["status"] == "pending"
    assert job["download_url"] is None
    done = _wait_job(api, f"/contacts/exports/{job['id']}")
    vip = api.ok("GET", "/contacts", params={"tag": "vip", "limit": 500})
    assert done["row_count"] == len(vip)
    download = api.session.get(done["download_url"], timeout=10)
    assert download.status_code == 200
    lines = download.text.splitlines()
    assert len(lines) == len(vip)
    assert done["download_url"].startswith(api.base_url + "/")


def test_export_download_requires_the_api_key(api: Api):
    job = api.ok("POST", "/contacts/exports", 202, json={})
    done = _wait_job(api, f"/contacts/exports/{job['id']}")
    assert requests.get(done["download_url"], timeout=10).status_code == 401


def test_export_with_unknown_filter_is_422(api: Api):
    assert api.post("/contacts/exports", json={"filters": {"colour": "red"}}).status_code == 422


def test_move_to_pipeline_stage(api: Api):
    pipeline = api.ok("GET", "/pipelines")[0]
    stage = pipeline["stages"][1]
    contact = api.ok("GET", "/contacts", params={"limit": 1})[0]
    moved = api.ok(
        "PUT", f"/contacts/{contact['id']}/stage",
        json={"pipeline_id": pipeline["id"], "stage_id": stage["id"]},
    )  # fmt: skip
    assert (moved["pipeline_id"], moved["stage_id"]) == (pipeline["id"], stage["id"])
    bad = api.put(f"/contacts/{contact['id']}/stage", json={"pipeline_id": pipeline["id"], "stage_id": "x"})
    assert bad.status_code == 404
    assert bad.json() == {"detail": "Stage not found"}


def test_timeline_lists_the_contacts_activity_in_order(api: Api):
    contact = api.ok("POST", "/contacts", 201, json={"first_name": "T", "phone": "+14155550601"})
    api.ok("POST", "/communication/sms", 201, json={"to": "+14155550601", "body": "hello"})
    api.ok("POST", "/tasks", 201, json={"title": "Call back", "contact_id": contact["id"]})
    items = api.ok("GET", f"/contacts/{contact['id']}/timeline")
    assert [i["type"] for i in items] == ["message", "task"]


def test_custom_fields_listed(api: Api):
    keys = {f["key"] for f in api.ok("GET", "/custom-fields")}
    assert {"company", "plan"} <= keys
