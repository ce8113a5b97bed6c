"""Secrets: no token, refresh token, client secret or webhook secret in any log line, exception
message, repr or traceback; `Authorization` never reaches another origin; TLS verified by
default; plain-HTTP credentials refused.

The leak test runs every flow against the sandbox (in its own process, so its own logs are not
the SDK's) with DEBUG logging captured on the root and `asyncapi_client` loggers and the SDK's
`LoggingMiddleware` logging headers, collects the `str`, `repr` and `traceback.format_exception`
text of every exception raised, and the reprs of the objects a user would print. It knows what
to search for because it collects the real values: every `TokenSet` the strategies obtained
(`on_token`), the refresh token fetched directly, the client secret and its HTTP Basic form,
the webhook secret from the registration reply, and the wrong secrets it used on purpose.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import logging
import secrets
import ssl
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest

import asyncapi_client as sdk
from asyncapi_client import LoggingMiddleware
from asyncapi_client.webhooks import WebhookReceiver, construct_event, sign, verify
from asyncapi_sandbox import Sandbox
from tests.support.outcomes import report
from tests.support.services import serving_asgi

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

CLIENT_ID = "reliability-client"


class Leaks:
    """Everything the test saw, and the secrets it must not find there."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.texts: list[tuple[str, str]] = []
        self.exceptions = 0

    def secret(self, what: str, value: str | sdk.Secret | None) -> None:
        if value is None:
            return
        text = value.get() if isinstance(value, sdk.Secret) else value
        assert len(text) >= 8, f"{what} is too short to search for reliably"
        self.secrets[text] = what

    def token(self, token: sdk.TokenSet) -> None:
        self.secret("access token", token.access_token)
        self.secret("refresh token", token.refresh_token)

    def seen(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def exception(self, exc: BaseException) -> None:
        self.exceptions += 1
        name = type(exc).__name__
        self.seen(f"str({name})", str(exc))
        self.seen(f"repr({name})", repr(exc))
        self.seen(f"traceback of {name}", "".join(traceback.format_exception(exc)))
        for attr in ("response", "request", "details", "excerpt", "error_description"):
            value = getattr(exc, attr, None)
            if value is not None:
                self.seen(f"{name}.{attr}", repr(value))

    async def expect_error(
        self, what: str, call: Callable[[], Any], *types: type[BaseException]
    ) -> BaseException:
        try:
            await call()
        except BaseException as exc:
            self.exception(exc)
            assert isinstance(exc, types or (sdk.APIError,)), f"{what}: {exc!r}"
            return exc
        raise AssertionError(f"{what} did not fail")

    def found(self) -> list[str]:
        hits = []
        for where, text in self.texts:
            for value, what in self.secrets.items():
                if value in text:
                    hits.append(f"{what} in {where}: ...{text[max(0, text.find(value) - 80) :][:200]!r}")
        return hits


async def _wait_for(condition: Callable[[], Any], what: str) -> None:
    with anyio.fail_after(20):
        while not await condition():  # noqa: ASYNC110 - polling the sandbox's delivery log
            await anyio.sleep(0.05)


async def test_no_secret_in_logs_errors_or_reprs(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every flow (token fetch, expiry refresh, refresh-token rotation, 401 replay, retries,
    status/OAuth/decode errors, webhook verification failures, bulk failures) at DEBUG: 0 of
    the collected secrets in any log record, exception text, traceback or repr."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="asyncapi_client")
    leaks = Leaks()
    client_secret = "cs-" + secrets.token_urlsafe(24)
    wrong_secret = "wrong-" + secrets.token_urlsafe(24)
    bogus_token = "bogus-" + secrets.token_urlsafe(24)
    wrong_webhook_secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    for what, value in (
        ("client secret", client_secret),
        ("wrong client secret", wrong_secret),
        ("bogus bearer token", bogus_token),
        ("wrong webhook secret", wrong_webhook_secret),
    ):
        leaks.secret(what, value)
    for form in (f"{CLIENT_ID}:{client_secret}", f"{quote(CLIENT_ID)}:{quote(client_secret)}"):
        leaks.secret("Basic credentials", base64.b64encode(form.encode()).decode())
    leaks.secret("webhook key", wrong_webhook_secret.removeprefix("whsec_"))

    async with Sandbox(
        isolated=True,
        client_id=CLIENT_ID,
        client_secret=client_secret,
        token_ttl=1.0,
        webhook_max_attempts=2,
        webhook_backoff_base=0.05,
        webhook_timeout=2.0,
    ) as sb:
        logging_layers = dict(
            middleware=[LoggingMiddleware(include_headers=True)],
            attempt_middleware=[LoggingMiddleware(include_headers=True)],
        )
        # -- token fetch, refresh on expiry, 401 replay, retries ------------------------------
        auth = sdk.ClientCredentials(sb.token_url, CLIENT_ID, client_secret, on_token=leaks.token)
        client = sdk.AsyncClient(
            sb.base_url,
            auth=auth,
            retry=sdk.RetryPolicy(max_attempts=3, backoff_base=0.01, backoff_max=0.05),
            **logging_layers,
        )
        async with client:
            me = await client.users.me()
            await anyio.sleep(1.1)  # the 1 s token expires: the next call refreshes first
            await client.projects.get(1)
            assert await sb.expire_tokens() >= 1  # the next call gets a 401, refreshes, replays
            await client.projects.get(2)
            await sb.configure(fail_rate=0.5, drop_rate=0.2)
            for pid in range(1, 21):
                try:
                    await client.projects.get(pid)
                except sdk.APIError as exc:
                    leaks.exception(exc)
            await sb.configure(fail_rate=1.0, drop_rate=0.0)
            await leaks.expect_error(
                "retries exhausted", lambda: client.projects.get(3), sdk.InternalServerError
            )
            await sb.configure(fail_rate=0.0, malformed_rate=1.0)
            await leaks.expect_error(
                "malformed reply", lambda: client.projects.get(3), sdk.ResponseDecodeError
            )
            await sb.configure(malformed_rate=0.0)
            # -- status errors ------------------------------------------------------------------
            await leaks.expect_error("404", lambda: client.projects.get(10**9), sdk.NotFoundError)
            await leaks.expect_error(
                "400", lambda: client.users.create("x", "not-an-email"), sdk.BadRequestError
            )
            await leaks.expect_error("409", lambda: client.users.create("Me", me.email), sdk.ConflictError)
            # -- bulk failures ------------------------------------------------------------------
            bad = [
                {"name": "A", "email": me.email},
                {"name": "B", "email": "nope"},
                {"name": 5},
                {"name": "C", "email": "c-bulk@example.com"},
            ]
            result = await client.users.bulk_create(bad)
            assert len(result.failed) == 3 and len(result.created) == 1, result
            for error in result.failed.values():
                leaks.exception(error)
            # -- webhooks: registration, deliveries to good and bad receivers -------------------
            received: list[Any] = []
            hook_secret_holder: list[sdk.Secret] = []

            class LateReceiver:
                """The good receiver needs the secret from the registration reply."""

                def __init__(self) -> None:
                    self.app: WebhookReceiver | None = None

                async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                    assert self.app is not None
                    await self.app(scope, receive, send)

            late = LateReceiver()
            bad_receiver = WebhookReceiver(wrong_webhook_secret)
            async with serving_asgi(late) as good_url, serving_asgi(bad_receiver) as bad_url:
                hook = await client.webhooks.create(good_url + "/hooks", ["project.created"])
                assert hook.secret is not None
                hook_secret_holder.append(hook.secret)
                leaks.secret("webhook secret", hook.secret)
                leaks.secret("webhook key", hook.secret.get().removeprefix("whsec_"))
                late.app = WebhookReceiver(hook.secret)
                late.app.on("*")(received.append)
                bad_hook = await client.webhooks.create(bad_url + "/hooks", ["project.created"])
                assert bad_hook.secret is not None
                leaks.secret("second webhook secret", bad_hook.secret)
                await client.webhooks.test(hook.id)
                await client.webhooks.test(bad_hook.id)
                await client.projects.create("secret test project")

                async def delivered() -> bool:
                    failed = [d for d in await client.webhooks.deliveries(bad_hook.id) if not d.succeeded]
                    return len(received) >= 2 and len(failed) >= 2

                await _wait_for(delivered, "deliveries to both receivers")
                leaks.seen("repr(webhooks)", repr(await client.webhooks.list()))
                leaks.seen("repr(hook)", repr(hook))
                leaks.seen("repr(events)", repr(received))

            # -- local verification failures with the real secret ---------------------------------
            secret = hook_secret_holder[0]
            body = json.dumps(
                {"id": "evt", "type": "ping", "created_at": "2024-01-01T00:00:00Z", "data": {}}
            ).encode()
            now = 1_750_000_000
            headers = {
                "webhook-id": "msg_1",
                "webhook-timestamp": str(now),
                "webhook-signature": sign(secret, "msg_1", now, body),
            }
            for what, args in (
                ("tampered body", (body + b" ", headers, secret)),
                ("old timestamp", (body, headers, secret)),
                ("wrong secret", (body, headers, wrong_webhook_secret)),
                ("bad signature", (body, {**headers, "webhook-signature": "v1,!!"}, secret)),
                ("not base64 secret", (body, headers, "whsec_" + "%" * 20)),
            ):
                when = now + 10_000 if what == "old timestamp" else now
                for check in (verify, construct_event):
                    await leaks.expect_error(
                        what,
                        _sync(lambda check=check, args=args, when=when: check(*args, now=when)),
                        sdk.WebhookVerificationError,
                    )
            leaks.seen("repr(client)", repr(client))
            leaks.seen("repr(auth)", repr(auth))
            leaks.seen("repr(token)", repr(auth.token))
            leaks.seen("repr(stats)", repr(client.stats()))
            leaks.seen("repr(rate limit)", repr(client.rate_limit_status()))

        # -- refresh-token grant with rotation, and a reused (revoked) refresh token -------------
        async with httpx.AsyncClient(trust_env=False) as http:
            reply = await http.post(
                sb.token_url, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, client_secret)
            )
            first = reply.json()
        leaks.secret("access token", first["access_token"])
        leaks.secret("refresh token", first["refresh_token"])
        rotating = sdk.RefreshToken(
            sb.token_url, CLIENT_ID, first["refresh_token"], client_secret, on_token=leaks.token
        )
        async with sdk.AsyncClient(sb.base_url, auth=rotating, **logging_layers) as rclient:
            await rclient.users.me()
            await anyio.sleep(1.1)
            await rclient.users.me()  # refreshed with the rotated refresh token
            assert rotating.refresh_count >= 2
            leaks.seen("repr(RefreshToken)", repr(rotating))
        reused = sdk.RefreshToken(sb.token_url, CLIENT_ID, first["refresh_token"], client_secret)
        async with sdk.AsyncClient(sb.base_url, auth=reused, **logging_layers) as rclient:
            await leaks.expect_error("revoked refresh token", rclient.users.me, sdk.OAuthError)
        # -- token endpoint errors, a rejected bearer token ---------------------------------------
        wrong = sdk.ClientCredentials(sb.token_url, CLIENT_ID, wrong_secret)
        async with sdk.AsyncClient(sb.base_url, auth=wrong, **logging_layers) as wclient:
            await leaks.expect_error("wrong client secret", wclient.users.me, sdk.OAuthError)
        async with sdk.AsyncClient(
            sb.base_url, auth=sdk.BearerToken(bogus_token), **logging_layers
        ) as bclient:
            await leaks.expect_error("bogus token", bclient.users.me, sdk.AuthenticationError)
        stats = await sb.stats()

    # Gather every log record, formatted with its traceback, and whatever was printed.
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        leaks.seen(f"log record {record.name}", formatter.format(record))
        leaks.seen(f"log args {record.name}", repr(record.args))
    out = capsys.readouterr()
    leaks.seen("stdout", out.out)
    leaks.seen("stderr", out.err)

    kinds = {what for what in leaks.secrets.values()}
    text = "\n".join(t for _, t in leaks.texts)
    figures = {
        "log_records": len(caplog.records),
        "exceptions_checked": leaks.exceptions,
        "texts_checked": len(leaks.texts),
        "distinct_secrets": len(leaks.secrets),
        "secret_kinds": sorted(kinds),
        "token_requests": stats["token_requests"],
        "webhook_deliveries": stats["webhook_deliveries"],
    }
    report("secrets", figures)
    # The flows really ran: tokens were issued and rotated, retries and replays were logged.
    assert {"access token", "refresh token", "client secret", "webhook secret"} <= kinds
    assert (
        stats["token_requests"]["refresh_token"] >= 1 and stats["token_requests"]["client_credentials"] >= 4
    )
    assert "retrying GET" in text and "attempt 1 -> 401" in text and "token request" in text.lower()
    assert leaks.exceptions >= 20
    hits = leaks.found()
    assert not hits, f"{len(hits)} secrets leaked; first: {hits[:3]}"


def _sync(function: Callable[[], Any]) -> Callable[[], Any]:
    async def call() -> Any:
        return function()

    return call


# -- Authorization never reaches another origin --------------------------------------------------


class _RecordingServer:
    """A bare HTTP/1.1 server: answers every request with `reply(port_of_other)` and records the
    request head."""

    def __init__(self, reply: Callable[[], bytes]) -> None:
        self.reply = reply
        self.heads: list[str] = []
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def __aenter__(self) -> _RecordingServer:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                self.heads.append(head)
                length = 0
                for line in head.split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                if length:
                    await reader.readexactly(length)
                writer.write(self.reply())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _transports() -> list[tuple[str, Callable[[], sdk.Transport]]]:
    found: list[tuple[str, Callable[[], sdk.Transport]]] = [("HttpcoreTransport", sdk.HttpcoreTransport)]
    for name in ("Httpcore2Transport", "AiohttpTransport", "PyreqwestTransport"):
        try:
            cls = getattr(sdk.transports, name)
            cls()  # the optional dependency may be missing
        except Exception:
            continue
        found.append((name, cls))
    return found


TRANSPORTS = _transports()


@pytest.mark.parametrize(("name", "make"), TRANSPORTS, ids=[name for name, _ in TRANSPORTS])
async def test_a_cross_origin_redirect_is_returned_not_followed(
    name: str, make: Callable[[], sdk.Transport]
) -> None:
    """A 307 to another origin comes back as the status error; the other origin receives 0
    requests, so neither the bearer token nor the client's Basic credentials reach it."""
    other = _RecordingServer(lambda: b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
    async with other:
        location = f"http://127.0.0.1:{other.port}/stolen"
        redirect = _RecordingServer(
            lambda: (
                f"HTTP/1.1 307 Temporary Redirect\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n".encode()
            )
        )
        async with redirect:
            base = f"http://127.0.0.1:{redirect.port}"
            token = "redirect-test-token-" + secrets.token_hex(8)
            async with sdk.AsyncClient(base, auth=sdk.BearerToken(token), transport=make()) as client:
                with pytest.raises(sdk.APIStatusError) as info:
                    await client.projects.get(1)
                assert info.value.status_code == 307
                with pytest.raises(sdk.APIStatusError):
                    await client.users.create("a", "a@example.com")
            auth = sdk.ClientCredentials(
                base + "/oauth/token", "cid", "client-secret-" + secrets.token_hex(8)
            )
            async with sdk.AsyncClient(base, auth=auth, transport=make()) as client:
                with pytest.raises(sdk.OAuthError) as oauth:
                    await client.projects.get(1)
                assert oauth.value.status_code == 307
        assert any(f"Bearer {token}" in head or f"bearer {token}" in head.lower() for head in redirect.heads)
    assert other.heads == [], f"{name} followed a redirect to another origin: {other.heads}"


# -- TLS verification on by default -------------------------------------------------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def test_tls_verification_is_on_by_default() -> None:
    """HttpcoreTransport() (the client's default) and Httpcore2Transport() verify certificates and
    host names: CERT_REQUIRED and check_hostname."""
    for cls in (sdk.HttpcoreTransport, *(make for name, make in TRANSPORTS if name == "Httpcore2Transport")):
        transport: Any = cls()
        context = transport._h1._ssl_context
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname, cls
    client = sdk.AsyncClient("https://api.example.com")
    context = client.transport._h1._ssl_context  # type: ignore[attr-defined]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(("name", "make"), TRANSPORTS, ids=[name for name, _ in TRANSPORTS])
async def test_a_self_signed_certificate_is_refused(
    name: str, make: Callable[[], sdk.Transport], tmp_path: Path
) -> None:
    """Over real TLS with a self-signed certificate: the default transport refuses with an
    APIConnectionError (and 0 requests reach the server); trusting that certificate on purpose
    makes the same call succeed, so the refusal is the verification."""
    cert, key = _self_signed(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    server = _RecordingServer(
        lambda: b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await server._handle(reader, writer)

    tls = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
    port = tls.sockets[0].getsockname()[1]
    try:
        async with sdk.AsyncClient(
            f"https://127.0.0.1:{port}", auth=sdk.BearerToken("tls-token-1234"), transport=make()
        ) as client:
            with pytest.raises(sdk.APIConnectionError):
                await client.request("GET", "/api/v1/users/me")
        assert server.heads == [], f"{name} sent a request over an unverified connection"
        if name in ("HttpcoreTransport", "Httpcore2Transport", "AiohttpTransport"):
            trusting = ssl.create_default_context(cafile=str(cert))
            transport: Any = getattr(sdk.transports, name)(verify=trusting)
            async with sdk.AsyncClient(f"https://127.0.0.1:{port}", transport=transport) as client:
                response = await client.request("GET", "/api/v1/users/me")
            assert response.status_code == 200 and len(server.heads) == 1
    finally:
        tls.close()
        await tls.wait_closed()


# -- plain HTTP credentials refused ---------------------------------------------------------------


def test_plain_http_token_url_is_refused_unless_allowed() -> None:
    """An http:// token URL (or base URL) to a non-loopback host raises ValueError at
    construction; allow_insecure_http=True, or a loopback host, is accepted."""
    for make in (
        lambda **kw: sdk.ClientCredentials("http://auth.example.com/oauth/token", "id", "secret", **kw),
        lambda **kw: sdk.RefreshToken("http://auth.example.com/oauth/token", "id", "refresh", **kw),
        lambda **kw: sdk.AsyncClient("http://api.example.com", **kw),
    ):
        with pytest.raises(ValueError, match="allow_insecure_http"):
            make()
        make(allow_insecure_http=True)
    for host in ("127.0.0.1", "localhost", "[::1]", "api.localhost"):
        sdk.ClientCredentials(f"http://{host}:8000/oauth/token", "id", "secret")
        sdk.AsyncClient(f"http://{host}:8000")
    with pytest.raises(ValueError, match="credentials"):
        sdk.ClientCredentials("https://user:pass@auth.example.com/oauth/token", "id", "secret")
