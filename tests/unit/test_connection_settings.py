"""Connection settings: defaults, normalisation, and a clear error naming the field for each mistake."""

from __future__ import annotations

import re
from typing import Any

import pytest

from votel_airflow import __version__, endpoints
from votel_airflow.exceptions import VotelConfigurationError
from votel_airflow.hooks.connection import DEFAULT_BASE_URL, settings_from_connection
from votel_airflow.hooks.votel import FULL_CHECK_HINT, VotelHook

from .conftest import AGENTS, API, KEY


def _settings(**kwargs: Any) -> Any:
    fields: dict[str, Any] = {"host": API, "password": KEY, "extra": None, **kwargs}
    return settings_from_connection("votel_default", **fields)


@pytest.mark.parametrize("host", [None, "", "   "])
def test_empty_host_means_the_default_base_url(host: str | None) -> None:
    assert _settings(host=host).base_url == DEFAULT_BASE_URL == "https://app.votel.ai/api"


def test_scheme_less_host_gets_https() -> None:
    assert _settings(host="eu.votel.example/api").base_url == "https://eu.votel.example/api"


def test_trailing_slash_is_stripped() -> None:
    assert _settings(host="http://127.0.0.1:8000/api/").base_url == "http://127.0.0.1:8000/api"


@pytest.mark.parametrize(
    "host", ["ftp://votel.example/api", "https://", "https://h/api?x=1", "https://h/api#f"]
)
def test_bad_base_url_is_rejected_naming_the_field(host: str) -> None:
    with pytest.raises(VotelConfigurationError, match="Base URL") as info:
        _settings(host=host)
    assert "'votel_default'" in str(info.value)


@pytest.mark.parametrize("password", [None, "", "  "])
def test_missing_key_is_rejected_naming_the_field(password: str | None) -> None:
    with pytest.raises(VotelConfigurationError, match="API Key is empty"):
        _settings(password=password)


def test_key_without_sk_prefix_is_rejected_without_quoting_it() -> None:
    secret = "pk_live_THIS_IS_A_REAL_SECRET_123"
    with pytest.raises(VotelConfigurationError, match="API Key does not start with 'sk_'") as info:
        _settings(password=secret)
    assert secret not in str(info.value)
    assert "THIS_IS" not in repr(info.value)


@pytest.mark.parametrize("secret", ["sk_abc def", "sk_abc\ndef", "sk_abcé"])
def test_key_with_spaces_or_odd_characters_is_rejected_without_quoting_it(secret: str) -> None:
    with pytest.raises(VotelConfigurationError, match="API Key contains") as info:
        _settings(password=secret)
    assert "abc" not in str(info.value)


def test_surrounding_whitespace_of_a_pasted_key_is_ignored() -> None:
    assert _settings(password=f"  {KEY}\n").api_key.reveal() == KEY


def test_non_json_extra_is_rejected_naming_the_field() -> None:
    with pytest.raises(VotelConfigurationError, match="Extra is not valid JSON"):
        _settings(extra="{timeout: 3")


def test_extra_that_is_not_an_object_is_rejected() -> None:
    with pytest.raises(VotelConfigurationError, match="Extra is not a JSON object"):
        _settings(extra="[1, 2]")


def test_unknown_extra_field_is_rejected_naming_it() -> None:
    with pytest.raises(VotelConfigurationError, match=r"unknown field\(s\) \['timout'\]"):
        _settings(extra={"timout": 3})


@pytest.mark.parametrize("value", [0, -1, 601, "soon", True, [3], float("nan")])
def test_bad_timeout_extra_is_rejected_naming_the_field(value: Any) -> None:
    with pytest.raises(VotelConfigurationError, match="extra field 'timeout'"):
        _settings(extra={"timeout": value})


@pytest.mark.parametrize("value", [-1, 21, 2.5, "many", True])
def test_bad_max_retries_extra_is_rejected_naming_the_field(value: Any) -> None:
    with pytest.raises(VotelConfigurationError, match="extra field 'max_retries'"):
        _settings(extra={"max_retries": value})


@pytest.mark.parametrize(("name", "value"), [("timeout", 0), ("timeout", -5.0), ("max_retries", -1)])
def test_bad_hook_arguments_are_rejected_naming_the_argument(name: str, value: Any) -> None:
    with pytest.raises(VotelConfigurationError, match=f"hook argument '{name}'"):
        _settings(**{name: value})


@pytest.mark.parametrize("value", [1, 0, "yes", "no", "off", [True], {"on": True}])
def test_non_boolean_server_idempotency_is_a_connection_error_naming_the_field(value: Any) -> None:
    with pytest.raises(
        VotelConfigurationError,
        match=rf"extra field 'server_idempotency' must be true or false, got {re.escape(repr(value))}",
    ):
        _settings(extra={"server_idempotency": value})


@pytest.mark.parametrize(
    ("extra", "expected"),
    [(None, True), ({"server_idempotency": False}, False), ('{"server_idempotency": "false"}', False),
     ({"server_idempotency": "True"}, True), ({"server_idempotency": None}, True)],
)  # fmt: skip
def test_server_idempotency_defaults_to_the_contract_and_reads_json_or_text(
    extra: Any, expected: bool
) -> None:
    assert _settings(extra=extra).server_idempotency is expected


def test_empty_extra_values_mean_the_defaults() -> None:
    settings = _settings(extra={"timeout": None, "max_retries": ""})
    assert (settings.timeout, settings.max_retries) == (30.0, 5)


def test_numeric_strings_in_extras_are_accepted() -> None:
    settings = _settings(extra='{"timeout": "12.5", "max_retries": "2"}')
    assert (settings.timeout, settings.max_retries) == (12.5, 2)


def test_configuration_error_surfaces_before_any_request(set_connection: Any, requests_mock: Any) -> None:
    set_connection(password="nope")

    with pytest.raises(VotelConfigurationError):
        VotelHook().get(endpoints.AGENTS)

    assert requests_mock.call_count == 0


def test_extras_timeout_and_max_retries_are_applied(
    set_connection: Any, requests_mock: Any, sleeps: list[float]
) -> None:
    set_connection(extra={"timeout": 7.5, "max_retries": 2})
    requests_mock.get(API + "/agents", status_code=500, json={"detail": "boom"})

    with pytest.raises(Exception, match="500"):
        VotelHook().get(endpoints.AGENTS)

    assert requests_mock.call_count == 3
    assert requests_mock.last_request.timeout == (7.5, 7.5)


def test_connect_timeout_is_capped_below_a_long_read_timeout(set_connection: Any, requests_mock: Any) -> None:
    set_connection(extra={"timeout": 120})
    requests_mock.get(API + "/agents", json=[])

    VotelHook().get(endpoints.AGENTS)

    assert requests_mock.last_request.timeout == (10.0, 120.0)


def test_hook_arguments_override_extras(set_connection: Any, requests_mock: Any, sleeps: list[float]) -> None:
    set_connection(extra={"timeout": 7.5, "max_retries": 2})
    requests_mock.get(API + "/agents", status_code=503)

    with pytest.raises(Exception, match="503"):
        VotelHook(timeout=3, max_retries=0).get(endpoints.AGENTS)

    assert requests_mock.call_count == 1
    assert requests_mock.last_request.timeout == (3.0, 3.0)


def test_defaults_without_extras(votel_conn: None, requests_mock: Any) -> None:
    requests_mock.get(API + "/agents", json=[])

    hook = VotelHook()
    hook.get(endpoints.AGENTS)

    assert requests_mock.last_request.timeout == (10.0, 30.0)
    assert hook.policy.max_retries == 5


def test_named_connection_is_used(set_connection: Any, requests_mock: Any) -> None:
    set_connection(conn_id="votel_eu", host="https://eu.votel.test/api")
    requests_mock.get("https://eu.votel.test/api/agents", json=[])

    VotelHook("votel_eu").get(endpoints.AGENTS)

    assert requests_mock.last_request.hostname == "eu.votel.test"


@pytest.mark.usefixtures("votel_conn")
def test_every_request_carries_key_user_agent_and_accept(requests_mock: Any) -> None:
    requests_mock.get(API + "/agents", json=[])

    VotelHook().request("GET", endpoints.AGENTS, headers={"X-API-Key": "sk_attempted_override"})

    headers = requests_mock.last_request.headers
    assert headers["X-API-Key"] == KEY
    assert headers["User-Agent"] == f"airflow-provider-votel/{__version__}"
    assert headers["Accept"] == "application/json"


@pytest.mark.usefixtures("votel_conn")
def test_content_type_is_sent_only_with_a_body(requests_mock: Any) -> None:
    requests_mock.get(API + "/agents", json=[])
    requests_mock.post(API + "/agents", status_code=201, json={"id": "a-9"})

    hook = VotelHook()
    hook.get(endpoints.AGENTS)
    assert "Content-Type" not in requests_mock.last_request.headers

    hook.request("POST", endpoints.AGENTS, json={"name": "New", "prompt": "Hi"}, idempotency_key="k")
    assert requests_mock.last_request.headers["Content-Type"] == "application/json"
    assert requests_mock.last_request.json() == {"name": "New", "prompt": "Hi"}


@pytest.mark.usefixtures("votel_conn")
def test_none_query_parameters_are_dropped(requests_mock: Any) -> None:
    requests_mock.get(API + "/contacts", json=[])

    VotelHook().get(endpoints.CONTACTS, params={"tag": "vip", "search": None})

    assert requests_mock.last_request.qs == {"tag": ["vip"]}


@pytest.mark.usefixtures("votel_conn")
def test_path_without_leading_slash_is_refused(requests_mock: Any) -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        VotelHook().get("agents")


@pytest.mark.usefixtures("votel_conn")
def test_one_session_per_hook(requests_mock: Any) -> None:
    hook = VotelHook()
    assert hook.get_conn() is hook.session
    hook.close()
    assert "session" not in hook.__dict__


@pytest.mark.usefixtures("votel_conn")
def test_test_connection_counts_agents(requests_mock: Any) -> None:
    requests_mock.get(API + "/agents", json=AGENTS)

    assert VotelHook().test_connection() == (True, f"Connected: 2 agents. {FULL_CHECK_HINT}")
    assert requests_mock.last_request.method == "GET"


@pytest.mark.usefixtures("votel_conn")
def test_test_connection_stays_one_get_and_names_the_full_check(requests_mock: Any) -> None:
    requests_mock.get(API + "/agents", json=AGENTS)

    ok, message = VotelHook().test_connection()

    assert ok
    assert "votel-check-api" in message
    assert [(r.method, r.path) for r in requests_mock.request_history] == [("GET", "/api/agents")]


@pytest.mark.usefixtures("votel_conn")
def test_test_connection_reports_the_servers_detail_on_401(requests_mock: Any) -> None:
    requests_mock.get(API + "/agents", status_code=401, json={"detail": "Invalid API key"})

    assert VotelHook().test_connection() == (False, "Invalid API key")
    assert requests_mock.call_count == 1


def test_test_connection_reports_a_configuration_error(set_connection: Any, requests_mock: Any) -> None:
    set_connection(extra={"bogus": 1})

    ok, message = VotelHook().test_connection()

    assert not ok
    assert "unknown field(s) ['bogus']" in message


@pytest.mark.parametrize(
    ("uri", "base_url"),
    [
        ("votel://:sk_x@localhost:8000/api", "https://localhost:8000/api"),
        ("votel://:sk_x@app.votel.ai/api", "https://app.votel.ai/api"),
        ("votel://:sk_x@http%3A%2F%2F127.0.0.1%3A8000%2Fapi", "http://127.0.0.1:8000/api"),
    ],
)
def test_uri_form_connection_keeps_port_and_path(
    monkeypatch: pytest.MonkeyPatch, uri: str, base_url: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", uri)
    assert VotelHook().settings.base_url == base_url


def test_http_schema_is_read_as_the_scheme() -> None:
    assert _settings(host="localhost", port=8000, schema="http").base_url == "http://localhost:8000"


def test_port_in_the_host_wins_over_the_port_field() -> None:
    assert _settings(host="http://localhost:9000/api", port=8000).base_url == "http://localhost:9000/api"


def test_unreadable_port_is_a_bad_base_url() -> None:
    with pytest.raises(VotelConfigurationError, match="Base URL"):
        _settings(host="http://localhost:abc/api")


def test_uri_query_extras_are_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_VOTEL_DEFAULT", "votel://:sk_x@localhost:8000/api?timeout=5&max_retries=1"
    )
    settings = VotelHook().settings
    assert (settings.timeout, settings.max_retries) == (5.0, 1)


@pytest.mark.parametrize("value", [-1, 3601, "soon", True, float("nan")])
def test_bad_retry_after_max_extra_is_rejected_naming_the_field(value: Any) -> None:
    with pytest.raises(VotelConfigurationError, match="extra field 'retry_after_max'"):
        _settings(extra={"retry_after_max": value})


def test_bad_retry_after_max_argument_is_rejected_naming_the_argument() -> None:
    with pytest.raises(VotelConfigurationError, match="hook argument 'retry_after_max'"):
        _settings(retry_after_max=-5)


def test_retry_after_max_extra_caps_the_wait_and_the_argument_wins(
    set_connection: Any, requests_mock: Any, sleeps: list[float]
) -> None:
    set_connection(extra={"retry_after_max": "5"})  # text, as a URI-form connection gives it
    throttled = [{"status_code": 429, "headers": {"Retry-After": "3600"}}, {"json": []}]
    requests_mock.get(API + "/agents", throttled)

    VotelHook(paced=False).get(endpoints.AGENTS)
    requests_mock.get(API + "/agents", throttled)
    VotelHook(paced=False, retry_after_max=2).get(endpoints.AGENTS)

    assert [round(s) for s in sleeps] == [5, 2]
    assert _settings().retry_after_max == 60.0
