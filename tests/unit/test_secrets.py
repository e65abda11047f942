"""The API key never shows: not in any log line (urllib3 debug included), error, repr or pickle.

Every call goes over real HTTP to a local server, so urllib3 and requests log what they really log.
"""

from __future__ import annotations

import base64
import http.client
import io
import logging
import pickle
import socket
import traceback
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

from votel_airflow import endpoints
from votel_airflow.exceptions import VotelError
from votel_airflow.hooks.votel import FULL_CHECK_HINT, VotelHook
from votel_airflow.lineage import api_dataset
from votel_airflow.links import VotelObjectLink, app_url, record_link

from .conftest import KEY

# "airflow.task": Airflow 3.0 sets it to INFO, and the hooks log under it there.
LOGGERS = ("", "urllib3", "requests", "airflow", "airflow.task", "votel_airflow", "httpx", "httpcore")


def _fragments(secret: str) -> list[str]:
    """The whole key and every 8-character slice of it (a partly masked key still leaks)."""
    return [secret] + [secret[i : i + 8] for i in range(len(secret) - 7)]


def assert_no_key(text: str, secret: str = KEY) -> None:
    leaked = [piece for piece in _fragments(secret) if piece in text]
    assert not leaked, f"API key fragments found: {leaked[:3]}"


@pytest.fixture
def all_logs(capfd: Any) -> Iterator[Callable[[], str]]:
    """Every log line at DEBUG: stdlib loggers (root, urllib3, requests, airflow) and Airflow's structlog."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    saved_levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    saved_structlog = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    # http.client's own debug output prints raw headers; it must stay off, and is off by default.
    assert http.client.HTTPConnection.debuglevel == 0
    captured: list[str] = []

    def text() -> str:
        out, err = capfd.readouterr()
        captured.extend([out, err])
        return stream.getvalue() + "".join(captured)

    try:
        yield text
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        structlog.configure(**saved_structlog)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_key_is_absent_from_logs_reprs_and_errors(
    local_api: str, set_connection: Any, all_logs: Callable[[], str], mocker: Any, sleeps: list[float]
) -> None:
    # Where the hook looks it up on every minor (compat resolves the right home once).
    masked = mocker.patch("votel_airflow.compat.mask_secret")
    set_connection(host=local_api)
    hook = VotelHook(max_retries=1)
    errors: list[BaseException] = []

    def failing(call: Callable[[], Any]) -> None:
        with pytest.raises(VotelError) as info:
            call()
        errors.append(info.value)
        # Airflow logs a failed task's traceback, chained causes included.
        hook.log.exception("task failed", exc_info=info.value)

    assert hook.get(endpoints.AGENTS)[0]["name"] == "Sales Assistant"
    assert hook.request("POST", endpoints.SMS, json={"to": "+1415"}, idempotency_key="af-1")["id"] == "m-1"
    assert hook.test_connection() == (True, f"Connected: 2 agents. {FULL_CHECK_HINT}")
    assert list(hook.paginate(endpoints.AGENTS, page_size=5))
    failing(lambda: hook.get("/boom"))
    failing(lambda: hook.get("/slow-down"))
    failing(lambda: hook.get("/proxy"))
    failing(lambda: hook.get("/no-such-route"))
    failing(lambda: hook.request("POST", "/boom", json={"to": "+1"}))

    set_connection(host=local_api, password="sk_" + "w" * 30, conn_id="votel_wrong")
    failing(lambda: VotelHook("votel_wrong").get(endpoints.AGENTS))
    set_connection(host=f"http://127.0.0.1:{_closed_port()}/api", conn_id="votel_down")
    down = VotelHook("votel_down", max_retries=1)
    failing(lambda: down.get(endpoints.AGENTS))
    assert down.test_connection()[0] is False

    masked.assert_any_call(KEY)
    assert len(errors) == 7
    assert sleeps  # retries happened, so their warnings are among the checked lines
    logs = all_logs()
    assert "GET /api/agents" in logs  # urllib3's debug lines were captured, so the check means something
    assert "Votel GET /agents -> 200" in logs  # and so were the hook's own debug lines
    assert_no_key(logs)
    assert_no_key(repr(hook) + str(hook) + repr(hook.settings) + str(hook.settings.api_key))
    for error in errors:
        assert_no_key(str(error))
        assert_no_key(repr(error))
        assert_no_key("".join(traceback.format_exception(error)))
        assert_no_key(repr(pickle.loads(pickle.dumps(error)).__dict__))
        assert KEY.encode() not in pickle.dumps(error)


def test_key_is_absent_from_configuration_errors_and_their_logs(
    set_connection: Any, all_logs: Callable[[], str]
) -> None:
    not_a_key = "pk_live_" + "Z9y8X7w6V5u4T3s2R1q0"
    set_connection(password=not_a_key)
    hook = VotelHook()

    ok, message = hook.test_connection()

    assert not ok
    assert_no_key(message, not_a_key)
    assert_no_key(all_logs(), not_a_key)


def test_settings_repr_hides_the_key_but_the_header_gets_it(votel_conn: None) -> None:
    settings = VotelHook().settings
    assert "sk_***" in str(settings.api_key)
    assert_no_key(repr(settings))
    assert settings.api_key.reveal() == KEY


GATEWAY_USER = "gatewayuser"
GATEWAY_PASSWORD = "Gw-pass-7Qm2Vx9Lp4"


def test_base_url_userinfo_is_absent_from_lineage_links_logs_and_reprs(
    local_api: str, set_connection: Any, all_logs: Callable[[], str], sleeps: list[float]
) -> None:
    url = local_api.replace("http://", f"http://{GATEWAY_USER}:{GATEWAY_PASSWORD}@")
    set_connection(host=url)
    hook = VotelHook(max_retries=1)

    assert hook.get(endpoints.AGENTS)[0]["name"] == "Sales Assistant"
    with pytest.raises(VotelError) as info:
        hook.get("/boom")
    hook.log.exception("task failed", exc_info=info.value)
    task = SimpleNamespace()
    record_link({"task": task}, hook.settings.base_url, "agent", "a-1")
    link = VotelObjectLink().get_link(task, ti_key=None)  # type: ignore[arg-type]
    # Also when handed the raw URL: the helpers strip it themselves.
    namespaces = [api_dataset(u, endpoints.AGENTS).namespace for u in (hook.settings.base_url, url)]

    shown = [
        all_logs(), repr(hook.settings), str(hook.settings), str(info.value), repr(info.value),
        "".join(traceback.format_exception(info.value)), link, app_url(url, "agent", "a-1"), *namespaces,
    ]  # fmt: skip
    for text in shown:
        assert GATEWAY_PASSWORD not in text
        assert f"{GATEWAY_USER}:" not in text
        assert f"{GATEWAY_USER}@" not in text
    assert namespaces == [local_api.removesuffix("/api")] * 2
    assert link == local_api.removesuffix("/api") + "/agents/a-1"
    # What the URL asked of the gateway still reaches it, as the header HTTP clients make of it.
    basic = base64.b64encode(f"{GATEWAY_USER}:{GATEWAY_PASSWORD}".encode()).decode()
    assert ("Authorization", f"Basic {basic}") in hook.settings.extra_headers
