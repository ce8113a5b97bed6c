"""HTTPS through each socket-level transport: handshake, verification, reuse, and refusal of an
untrusted certificate (with its reason, not retryable). The certificate is self-signed, made
here with the openssl command; test_peers.py does the same against hypercorn with a private CA."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from asyncapi_client import APIConnectionError, Request
from asyncapi_client.transports import Transport
from tests.support.conformance_server import TestServer
from tests.support.transport_kinds import (
    ASYNCIO_ONLY,
    SOCKET_TRANSPORTS,
    make_transport,
    skip_unless_installed,
)

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

CASES = [
    pytest.param((kind, backend), id=f"{kind}-{backend}", marks=skip_unless_installed(kind))
    for kind in SOCKET_TRANSPORTS
    for backend in ("asyncio", "trio")
    if backend == "asyncio" or kind not in ASYNCIO_ONLY
]


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("tls")
    key, crt = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", str(key), "-out", str(crt), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, crt


@pytest.fixture(scope="module")
def tls_server(cert: tuple[Path, Path]) -> Iterator[TestServer]:
    key, crt = cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(crt), str(key))
    with TestServer(ssl_context=ctx) as server:
        yield server


def make(kind: str, verify: bool | ssl.SSLContext) -> Transport:
    return make_transport(kind, 10, verify=verify)


@pytest.mark.parametrize("case", CASES)
def test_https_round_trips_and_reuses_the_connection(
    case: tuple[str, str], tls_server: TestServer, cert: tuple[Path, Path]
) -> None:
    kind, backend = case
    if kind == "pyreqwest":
        pytest.skip(
            "rustls takes no self-signed certificate as its own trust anchor (a private CA: test_peers.py)"
        )
    trusted = ssl.create_default_context(cafile=str(cert[1]))

    async def main() -> None:
        transport = make(kind, trusted)
        before = tls_server.connections
        try:
            for i in range(5):
                body = b"x" * (i * 70_000)
                response = await transport.send(
                    Request("POST", f"{tls_server.url}/echo", content=body, timeout=10.0)
                )
                assert response.status_code == 200
                assert response.json()["body_length"] == len(body)
            big = await transport.send(Request("GET", f"{tls_server.url}/big/2000000", timeout=10.0))
            assert len(big.content) == 2_000_000
        finally:
            await transport.aclose()
        assert tls_server.connections - before == 1

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("case", CASES)
def test_untrusted_certificate_is_refused(case: tuple[str, str], tls_server: TestServer) -> None:
    kind, backend = case

    async def main() -> None:
        transport = make(kind, True)  # the system's CAs: the self-signed certificate is unknown
        try:
            with pytest.raises(APIConnectionError) as info:
                await transport.send(Request("GET", f"{tls_server.url}/echo", timeout=10.0))
            assert info.value.request_sent is False
            assert "TLS certificate verification failed" in str(info.value)
            assert info.value.retryable is False
        finally:
            await transport.aclose()

    anyio.run(main, backend=backend)
