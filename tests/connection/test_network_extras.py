"""The connection's network extras, over real HTTP: a forwarding proxy, a CA bundle, extra headers.

The proxy and the TLS front are real servers started here on loopback, in front of the sandbox:
what they record is what went over the wire, for the sync (requests) and the async (httpx) hook.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from votel_airflow import endpoints
from votel_airflow.exceptions import VotelConfigurationError, VotelServerError
from votel_airflow.hooks.votel import VotelAsyncHook, VotelHook, clear_connection_cache
from votel_airflow.sandbox.server import SandboxServer

HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "te", "upgrade"}


class Seen:
    """What a front server received: ``(method, target, headers)`` per request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []


def _forwarder(upstream: str | None, seen: Seen) -> type[BaseHTTPRequestHandler]:
    """A handler forwarding each request to ``upstream`` (a reverse front), or, when None, to the
    absolute URL in the request line (a forwarding proxy)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            seen.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            target = urlsplit(self.path if upstream is None else upstream + self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            path = target.path + (f"?{target.query}" if target.query else "")
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
            try:
                conn.request(self.command, path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
            finally:
                conn.close()
            self.send_response(answer.status)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy() -> Iterator[tuple[str, Seen]]:
    """A forwarding HTTP proxy on loopback; its URL and what it forwarded."""
    seen = Seen()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _forwarder(None, seen))
    for running in _serve(server):
        yield f"http://127.0.0.1:{running.server_port}", seen


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key (PEM files)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "votel-sandbox-test")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "sandbox-cert.pem", folder / "sandbox-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_sandbox(votel_sandbox: SandboxServer, tmp_path: Path) -> Iterator[tuple[str, Path, Seen]]:
    """The sandbox served over TLS with a self-signed certificate: its https base URL, the CA file."""
    cert, key = _self_signed(tmp_path)
    seen = Seen()
    origin = votel_sandbox.base_url.rsplit("/api", 1)[0]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _forwarder(origin, seen))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    for running in _serve(server):
        yield f"https://127.0.0.1:{running.server_port}/api", cert, seen


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch, votel_api_key: str) -> Callable[..., None]:
    """Point ``votel_default`` at ``host`` with the given extras."""

    def use(host: str, **extra: Any) -> None:
        conn = {"conn_type": "votel", "host": host, "password": votel_api_key, "extra": json.dumps(extra)}
        monkeypatch.setenv("AIRFLOW_CONN_VOTEL_DEFAULT", json.dumps(conn))
        clear_connection_cache()

    return use


def _async_agents() -> Any:
    async def run() -> Any:
        async with VotelAsyncHook() as hook:
            return await hook.get(endpoints.AGENTS)

    return asyncio.run(run())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_requests_go_through_the_proxy_with_the_extra_headers(
    flavour: str, votel_sandbox: SandboxServer, votel_api_key: str, proxy: tuple[str, Seen], connect: Any
) -> None:
    url, seen = proxy
    connect(votel_sandbox.base_url, proxy=url, extra_headers={"X-Team": "growth"})

    agents = VotelHook().get(endpoints.AGENTS) if flavour == "sync" else _async_agents()

    assert agents
    assert all("id" in a for a in agents)
    assert [(m, t) for m, t, _ in seen.requests] == [("GET", f"{votel_sandbox.base_url}/agents")]
    headers = seen.requests[0][2]
    assert headers["x-team"] == "growth"
    assert headers["x-api-key"] == votel_api_key


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_ca_bundle_makes_a_self_signed_sandbox_trusted(
    flavour: str, tls_sandbox: tuple[str, Path, Seen], connect: Any
) -> None:
    base_url, cert, seen = tls_sandbox
    connect(base_url, ca_bundle=str(cert), extra_headers='{"X-Region": "eu"}', max_retries=0)

    agents = VotelHook().get(endpoints.AGENTS) if flavour == "sync" else _async_agents()

    assert agents
    assert seen.requests[-1][2]["x-region"] == "eu"


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_without_the_ca_bundle_the_self_signed_sandbox_is_refused(
    flavour: str, tls_sandbox: tuple[str, Path, Seen], connect: Any
) -> None:
    base_url, _, seen = tls_sandbox
    connect(base_url, max_retries=0)

    with pytest.raises(VotelServerError, match="TLS handshake"):
        VotelHook().get(endpoints.AGENTS) if flavour == "sync" else _async_agents()
    assert seen.requests == []


def test_async_hooks_of_different_proxies_do_not_share_a_client(
    votel_sandbox: SandboxServer, proxy: tuple[str, Seen], connect: Any
) -> None:
    url, seen = proxy

    async def both() -> None:
        connect(votel_sandbox.base_url)
        async with VotelAsyncHook() as direct:
            await direct.get(endpoints.AGENTS)
            connect(votel_sandbox.base_url, proxy=url)
            async with VotelAsyncHook() as proxied:
                await proxied.get(endpoints.AGENTS)

    asyncio.run(both())
    assert len(seen.requests) == 1  # only the proxied hook's request went through the proxy


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"extra_headers": {"X-API-Key": "sk_other"}}, "may not set 'X-API-Key'"),
        ({"extra_headers": {"x-api-key": "sk_other"}}, "may not set 'x-api-key'"),
        ({"extra_headers": {"Idempotency-Key": "k"}}, "may not set 'Idempotency-Key'"),
        ({"extra_headers": {"X-Token": "secret\r\nX-Evil: 1"}}, "not printable text on one line"),
        ({"extra_headers": {"Bad Name": "v"}}, "invalid header name"),
        ({"extra_headers": ["X-Team"]}, "is not a JSON object"),
        ({"extra_headers": "{not json"}, "is not valid JSON"),
        ({"proxy": "socks5://proxy:1080"}, "is not an http(s) proxy URL"),
        ({"ca_bundle": "relative/ca.pem"}, "must be an absolute file path"),
        ({"ca_bundle": "/nonexistent/ca.pem"}, "not a readable file"),
        ({"proxie": "http://proxy:3128"}, "unknown field(s) ['proxie']"),
    ],
)
def test_bad_network_extras_are_refused_before_any_request_naming_the_field(
    extra: dict[str, Any], message: str, connect: Any, votel_sandbox: SandboxServer
) -> None:
    connect(votel_sandbox.base_url, **extra)
    with pytest.raises(VotelConfigurationError) as failure:
        VotelHook().get(endpoints.AGENTS)
    assert message in str(failure.value)
    assert "secret" not in str(failure.value)
    assert "sk_other" not in str(failure.value)


def test_header_values_and_the_proxy_password_are_masked_and_kept_out_of_reprs(
    votel_sandbox: SandboxServer, proxy: tuple[str, Seen], connect: Any
) -> None:
    from airflow.sdk.log import redact

    url, _ = proxy
    with_password = url.replace("http://", "http://alice:pw-9f8e7d@")
    connect(votel_sandbox.base_url, proxy=with_password, extra_headers={"X-Gateway-Token": "gw-3c4d5e6f"})
    hook = VotelHook()

    assert hook.get(endpoints.AGENTS)  # the proxy ignores the credentials; the request goes through
    assert "gw-3c4d5e6f" not in repr(hook.settings)
    assert "pw-9f8e7d" not in repr(hook.settings)
    assert redact("token gw-3c4d5e6f, proxy pw-9f8e7d") == "token ***, proxy ***"
