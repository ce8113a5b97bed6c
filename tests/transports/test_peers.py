"""Every socket transport against servers we did not write: Debian's nginx, hypercorn over TLS
with a private CA made by trustme (HTTP/1.1 and HTTP/2), and Debian's tinyproxy.

Each test is one scenario, its docstring's first line the scenario's name; each runs for every
transport (`KINDS`). `benchmarks/conformance_table.py` runs this module and writes the
scenario-by-transport table of docs/transports.md from the outcome. A transport that cannot do
a scenario (aiohttp and HTTP/2; two pyreqwest limits) is skipped with the reason, shown as "no"
there with the reason as a note.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import ssl
import subprocess
import traceback
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asyncapi_client import (
    APIConnectionError,
    AsyncClient,
    Request,
    Response,
    ResponseTooLargeError,
    RetryPolicy,
)
from asyncapi_client.transports import Transport
from tests.support.conformance_server import open_sockets_to
from tests.support.peer_app import PAGE
from tests.support.services import require_binary, running_hypercorn, running_nginx, running_tinyproxy
from tests.support.transport_kinds import HTTP2, installed, make_transport

KINDS = [
    pytest.param(("httpcore", "asyncio"), id="httpcore"),
    pytest.param(("httpcore", "trio"), id="httpcore-trio"),
    pytest.param(("httpcore-pool", "asyncio"), id="httpcore-pool"),
    *(
        pytest.param(
            (kind, "asyncio"),
            id=kind,
            marks=[] if installed(kind) else [pytest.mark.skip(reason=f"{kind} is not installed")],
        )
        for kind in ("httpcore2", "aiohttp", "pyreqwest")
    ),
]
BIG = 20 * 1024 * 1024
PROXY_PASSWORD = "s3cret-proxy-Pa55"  # a test credential that must never show


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> tuple[str, str]:
    value: tuple[str, str] = request.param
    return value


Body = Callable[[Transport], Awaitable[None]]


def run(kind: tuple[str, str], body: Body, **options: Any) -> None:
    name, backend = kind

    async def main() -> None:
        transport = make_transport(name, 8, **options)
        try:
            with anyio.fail_after(60):
                await body(transport)
        finally:
            await transport.aclose()

    anyio.run(main, backend=backend)


async def get(transport: Transport, url: str, **kwargs: Any) -> Response:
    return await transport.send(Request("GET", url, timeout=20.0, **kwargs))


# -- peers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nginx-files")
    (root / "page.json").write_text(json.dumps(PAGE))
    (root / "big.bin").write_bytes(random.Random(14).randbytes(BIG))
    return root


NGINX_SERVER = """
        add_header X-Conn $connection always;
        add_header X-Conn-Requests $connection_requests always;
        location /files/ {{ alias {files}/; }}
        location /gzip/ {{
            alias {files}/;
            gzip on;
            gzip_types application/json application/octet-stream;
            gzip_min_length 1;
        }}
        location = /idle {{ keepalive_timeout 1s; return 200 'idle'; }}
        location = /limited {{ keepalive_requests 3; return 200 'limited'; }}
        location = /close {{ keepalive_timeout 0; return 200 'closing'; }}
        location = /dup {{
            add_header X-Dup a always;
            add_header X-Dup b always;
            return 200 'dup';
        }}
"""


@pytest.fixture(scope="module")
def nginx(files: Path) -> Iterator[str]:
    types = "types { application/json json; application/octet-stream bin; }"
    with running_nginx(NGINX_SERVER.format(files=files), http_block=types) as port:
        yield f"http://127.0.0.1:{port}"


class PKI:
    def __init__(self, root: Path) -> None:
        import trustme

        ca = trustme.CA()
        self.ca_file = root / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_file))
        server = ca.issue_cert("127.0.0.1", "localhost")
        self.server_cert = root / "server.pem"
        self.server_key = root / "server.key"
        server.cert_chain_pems[0].write_to_path(str(self.server_cert))
        server.private_key_pem.write_to_path(str(self.server_key))
        self.client_cert = root / "client.pem"  # key and certificate in one file
        ca.issue_cert("client@example.com").private_key_and_cert_chain_pem.write_to_path(
            str(self.client_cert)
        )
        # An OpenSSL hashed directory (SSL_CERT_DIR) holding only the CA.
        self.ca_dir = root / "certs"
        self.ca_dir.mkdir()
        subject_hash = subprocess.run(
            [require_binary("openssl"), "x509", "-hash", "-noout", "-in", str(self.ca_file)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        (self.ca_dir / f"{subject_hash}.0").write_bytes(self.ca_file.read_bytes())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    pytest.importorskip("trustme")
    return PKI(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def hypercorn(pki: PKI) -> Iterator[str]:
    with running_hypercorn(
        "tests.support.peer_app:app", certfile=pki.server_cert, keyfile=pki.server_key
    ) as port:
        yield f"https://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def hypercorn_mtls(pki: PKI) -> Iterator[str]:
    with running_hypercorn(
        "tests.support.peer_app:app",
        certfile=pki.server_cert,
        keyfile=pki.server_key,
        ca_certs=pki.ca_file,
        require_client_cert=True,
    ) as port:
        yield f"https://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def tinyproxy() -> Iterator[tuple[str, Path]]:
    with running_tinyproxy() as (port, log):
        yield f"http://127.0.0.1:{port}", log


@pytest.fixture(scope="module")
def tinyproxy_auth() -> Iterator[tuple[str, Path]]:
    with running_tinyproxy(basic_auth=("sdk-user", PROXY_PASSWORD)) as (port, log):
        yield f"127.0.0.1:{port}", log


def proxied(log: Path, line: str) -> int:
    """How many requests the proxy logged with `line` in them (it logs each before forwarding)."""
    return sum(
        1 for text in log.read_text().splitlines() if "Request (file descriptor" in text and line in text
    )


# -- nginx ------------------------------------------------------------------------------------


def test_nginx_gzip(kind: tuple[str, str], nginx: str, files: Path) -> None:
    """nginx: a gzip-encoded page (chunked, no Content-Length) is decoded; Accept-Encoding sent"""

    async def body(transport: Transport) -> None:
        response = await get(transport, f"{nginx}/gzip/page.json")
        assert response.headers["content-encoding"] == "gzip"  # nginx gzips only when asked
        assert "content-length" not in response.headers
        assert response.json() == PAGE
        big = await get(transport, f"{nginx}/gzip/big.bin")
        assert (
            hashlib.sha256(big.content).digest() == hashlib.sha256((files / "big.bin").read_bytes()).digest()
        )

    run(kind, body, max_response_bytes=2 * BIG)  # random bytes grow a little when gzipped


def test_nginx_large_body(kind: tuple[str, str], nginx: str, files: Path) -> None:
    """nginx: a 20 MiB static file arrives intact; the connection is reused after it"""

    async def body(transport: Transport) -> None:
        first = await get(transport, f"{nginx}/files/big.bin")
        assert len(first.content) == BIG
        assert first.content == (files / "big.bin").read_bytes()
        second = await get(transport, f"{nginx}/files/page.json")
        assert second.json() == PAGE
        assert second.headers["x-conn"] == first.headers["x-conn"]

    run(kind, body, max_response_bytes=BIG)


def test_nginx_size_limit(kind: tuple[str, str], nginx: str) -> None:
    """nginx: over max_response_bytes, refused by Content-Length and cut while decoding"""

    async def body(transport: Transport) -> None:
        with pytest.raises(ResponseTooLargeError, match="Content-Length"):
            await get(transport, f"{nginx}/files/big.bin")
        with pytest.raises(ResponseTooLargeError):
            await get(transport, f"{nginx}/gzip/big.bin")
        assert (await get(transport, f"{nginx}/files/page.json")).json() == PAGE

    run(kind, body, max_response_bytes=1024 * 1024)


def test_nginx_keepalive_timeout(kind: tuple[str, str], nginx: str) -> None:
    """nginx: an idle connection closed by keepalive_timeout is not reused; the next call works"""
    port = int(nginx.rsplit(":", 1)[1])

    async def body(transport: Transport) -> None:
        first = await get(transport, f"{nginx}/idle")
        with anyio.fail_after(15):  # wait for nginx's close (keepalive_timeout 1s), not a sleep
            # The kernel's socket state is the event; nothing signals it, so poll it.
            while _established_to(port):  # noqa: ASYNC110
                await anyio.sleep(0.05)
        for _ in range(3):  # let the event loop read the FIN the kernel already has
            await anyio.lowlevel.checkpoint()
        second = await get(transport, f"{nginx}/idle")
        assert second.status_code == 200
        assert second.headers["x-conn"] != first.headers["x-conn"]

    run(kind, body)


def test_nginx_keepalive_requests(kind: tuple[str, str], nginx: str) -> None:
    """nginx: keepalive_requests 3 closes each connection after 3 replies; 10 calls in a row work"""

    async def body(transport: Transport) -> None:
        replies = [await get(transport, f"{nginx}/limited") for _ in range(10)]
        assert [r.content for r in replies] == [b"limited"] * 10
        assert max(int(r.headers["x-conn-requests"]) for r in replies) == 3
        assert len({r.headers["x-conn"] for r in replies}) >= 4

    run(kind, body)


def test_nginx_connection_close(kind: tuple[str, str], nginx: str) -> None:
    """nginx: Connection: close on every reply; each call gets a new connection"""

    async def body(transport: Transport) -> None:
        replies = [await get(transport, f"{nginx}/close") for _ in range(4)]
        assert all(r.headers["connection"] == "close" for r in replies)
        assert len({r.headers["x-conn"] for r in replies}) == 4

    run(kind, body)


def test_nginx_repeated_headers(kind: tuple[str, str], nginx: str) -> None:
    """nginx: a repeated response header comes back joined ("a, b")"""

    async def body(transport: Transport) -> None:
        assert (await get(transport, f"{nginx}/dup")).headers["x-dup"] == "a, b"

    run(kind, body)


# -- hypercorn over TLS with a private CA ------------------------------------------------------


def test_tls_private_ca_path(kind: tuple[str, str], hypercorn: str, pki: PKI) -> None:
    """hypercorn TLS: verify="ca.pem" (a private CA), HTTP/1.1"""

    async def body(transport: Transport) -> None:
        info = (await get(transport, f"{hypercorn}/info")).json()
        assert info["http_version"] == "1.1"

    run(kind, body, verify=str(pki.ca_file))


def test_tls_http2(kind: tuple[str, str], hypercorn: str, pki: PKI) -> None:
    """hypercorn TLS: HTTP/2 (http2=True, by ALPN), 20 concurrent calls on it"""
    if kind[0] not in HTTP2:
        pytest.skip("aiohttp speaks HTTP/1.1 only")

    async def body(transport: Transport) -> None:
        versions: list[str] = []

        async def one() -> None:
            versions.append((await get(transport, f"{hypercorn}/info")).json()["http_version"])

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(one)
        assert versions == ["2"] * 20

    run(kind, body, verify=str(pki.ca_file), http2=True)


def test_tls_ssl_context(kind: tuple[str, str], hypercorn: str, pki: PKI) -> None:
    """hypercorn TLS: verify=ssl.SSLContext trusting the private CA"""

    async def body(transport: Transport) -> None:
        assert (await get(transport, f"{hypercorn}/json")).json() == PAGE

    run(kind, body, verify=ssl.create_default_context(cafile=str(pki.ca_file)))


def test_tls_ssl_cert_file(
    kind: tuple[str, str], hypercorn: str, pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hypercorn TLS: SSL_CERT_FILE honoured (verify=True, trust_env=True)"""
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    async def body(transport: Transport) -> None:
        assert (await get(transport, f"{hypercorn}/json")).json() == PAGE

    run(kind, body)


def test_tls_trust_env_off(
    kind: tuple[str, str], hypercorn: str, pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hypercorn TLS: trust_env=False ignores SSL_CERT_FILE"""
    if kind[0] == "pyreqwest":
        pytest.skip("rustls' platform verifier reads SSL_CERT_FILE itself, whatever trust_env says")
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))

    async def refused(transport: Transport) -> None:
        with pytest.raises(APIConnectionError, match="TLS certificate verification failed"):
            await get(transport, f"{hypercorn}/json")

    run(kind, refused, trust_env=False)


def test_tls_ssl_cert_dir(
    kind: tuple[str, str], hypercorn: str, pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hypercorn TLS: SSL_CERT_DIR (a hashed CA directory) honoured"""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.setenv("SSL_CERT_DIR", str(pki.ca_dir))

    async def body(transport: Transport) -> None:
        assert (await get(transport, f"{hypercorn}/json")).json() == PAGE

    run(kind, body)


def test_tls_untrusted_is_not_retried(kind: tuple[str, str], hypercorn: str) -> None:
    """hypercorn TLS: an untrusted certificate fails with its reason, its cause, and no retry"""
    name, backend = kind

    async def main() -> None:
        async with AsyncClient(
            hypercorn, transport=make_transport(name, 4), retry=RetryPolicy(max_attempts=4)
        ) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.request("GET", "/json")
            stats = client.stats()
        error = info.value
        assert "TLS certificate verification failed" in str(error)
        if name != "pyreqwest":  # OpenSSL's reason code; rustls words it "UnknownIssuer"
            assert "CERTIFICATE_VERIFY_FAILED" in str(error)
        assert error.request_sent is False
        assert error.retryable is False
        assert error.__cause__ is not None
        assert stats.attempts == 1 and stats.retries == 0

    anyio.run(main, backend=backend)


def test_mutual_tls(kind: tuple[str, str], hypercorn_mtls: str, pki: PKI) -> None:
    """hypercorn mutual TLS: cert= presents the client certificate; without it, refused"""

    async def body(transport: Transport) -> None:
        assert (await get(transport, f"{hypercorn_mtls}/json")).json() == PAGE

    run(kind, body, verify=str(pki.ca_file), cert=str(pki.client_cert))

    async def refused(transport: Transport) -> None:
        with pytest.raises(APIConnectionError):
            await get(transport, f"{hypercorn_mtls}/json")

    run(kind, refused, verify=str(pki.ca_file))


# -- tinyproxy --------------------------------------------------------------------------------


def test_proxy_http(kind: tuple[str, str], nginx: str, tinyproxy: tuple[str, Path]) -> None:
    """tinyproxy: plain http through proxy= (absolute-form request)"""
    proxy, log = tinyproxy
    target = f"{nginx}/files/page.json?via=http-{kind[0]}-{kind[1]}"

    async def body(transport: Transport) -> None:
        before = proxied(log, target)
        assert (await get(transport, target)).json() == PAGE
        assert proxied(log, target) == before + 1

    run(kind, body, proxy=proxy)


def test_proxy_https_connect(
    kind: tuple[str, str], hypercorn: str, pki: PKI, tinyproxy: tuple[str, Path]
) -> None:
    """tinyproxy: https through a CONNECT tunnel, TLS verified end to end"""
    proxy, log = tinyproxy
    tunnel = f"CONNECT {hypercorn.partition('://')[2]}"

    async def body(transport: Transport) -> None:
        before = proxied(log, tunnel)
        assert (await get(transport, f"{hypercorn}/json")).json() == PAGE
        assert (await get(transport, f"{hypercorn}/json")).json() == PAGE
        assert proxied(log, tunnel) == before + 1  # one tunnel, kept alive for both calls

    run(kind, body, proxy=proxy, verify=str(pki.ca_file))


def test_proxy_credentials(
    kind: tuple[str, str], nginx: str, hypercorn: str, pki: PKI, tinyproxy_auth: tuple[str, Path]
) -> None:
    """tinyproxy with Basic auth: credentials from the proxy URL, for http and CONNECT"""
    address, _ = tinyproxy_auth

    async def body(transport: Transport) -> None:
        assert (await get(transport, f"{nginx}/files/page.json")).json() == PAGE
        assert (await get(transport, f"{hypercorn}/json")).json() == PAGE
        assert PROXY_PASSWORD not in repr(transport)

    run(kind, body, proxy=f"http://sdk-user:{PROXY_PASSWORD}@{address}", verify=str(pki.ca_file))


def test_proxy_wrong_credentials(
    kind: tuple[str, str],
    hypercorn: str,
    pki: PKI,
    tinyproxy_auth: tuple[str, Path],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """tinyproxy refusing the credentials: the password in no message, traceback or log"""
    address, _ = tinyproxy_auth
    wrong = "wrong-" + PROXY_PASSWORD
    name, backend = kind
    caplog.set_level(logging.DEBUG)

    async def main() -> None:
        transport = make_transport(
            name, 4, proxy=f"http://sdk-user:{wrong}@{address}", verify=str(pki.ca_file)
        )
        async with AsyncClient(hypercorn, transport=transport, retry=RetryPolicy(max_attempts=2)) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.request("GET", "/json")
        error = info.value
        assert "proxy refused the tunnel" in str(error)
        assert error.request_sent is False
        shown = [
            str(error),
            repr(error),
            "".join(traceback.format_exception(error)),
            repr(transport),
            caplog.text,
        ]
        assert not [text for text in shown if wrong in text]

    anyio.run(main, backend=backend)


def test_proxy_wrong_credentials_not_retried(
    kind: tuple[str, str], hypercorn: str, pki: PKI, tinyproxy_auth: tuple[str, Path]
) -> None:
    """tinyproxy refusing the credentials (401 to the CONNECT): not retried"""
    if kind[0] == "pyreqwest":
        pytest.skip("reqwest reports a refused tunnel without its status, so only a 407 is known permanent")
    address, _ = tinyproxy_auth
    name, backend = kind

    async def main() -> None:
        transport = make_transport(name, 4, proxy=f"http://sdk-user:wrong@{address}", verify=str(pki.ca_file))
        async with AsyncClient(hypercorn, transport=transport, retry=RetryPolicy(max_attempts=4)) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.request("GET", "/json")
            assert client.stats().attempts == 1
        assert info.value.retryable is False

    anyio.run(main, backend=backend)


def test_proxy_from_environment(
    kind: tuple[str, str], nginx: str, tinyproxy: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """tinyproxy from HTTP_PROXY; NO_PROXY and trust_env=False go direct"""
    proxy, log = tinyproxy
    host = nginx.partition("://")[2]
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    target = f"{nginx}/files/page.json?via=env-{kind[0]}-{kind[1]}"

    async def body(transport: Transport) -> None:
        assert (await get(transport, target)).json() == PAGE

    before = proxied(log, target)
    run(kind, body)
    assert proxied(log, target) == before + 1
    run(kind, body, trust_env=False)
    monkeypatch.setenv("NO_PROXY", host.split(":")[0])
    run(kind, body)
    assert proxied(log, target) == before + 1  # neither of the last two went through the proxy


def _established_to(port: int) -> bool:
    """Does this process hold an open connection to `port` that the server has not closed?"""
    return open_sockets_to(port, states={"01"}) > 0
