"""What every socket transport accepts, refused at construction when wrong, for each transport;
the proxy settings from the arguments and the environment; the client's network options.

(That they work on the wire is test_peers.py's and test_conformance.py's to prove.)
"""

from __future__ import annotations

import math
import ssl
import traceback
from pathlib import Path
from typing import Any

import pytest

from asyncapi_client import AsyncClient, HttpcoreTransport, MockTransport, Response
from asyncapi_client.transports import DEFAULT_MAX_RESPONSE_BYTES
from asyncapi_client.transports._proxy import Proxy, ProxyRoutes
from tests.support.transport_kinds import SOCKET_TRANSPORTS, installed, make_transport

KINDS = [
    pytest.param(k, marks=[] if installed(k) else [pytest.mark.skip(reason=f"{k} is not installed")])
    for k in SOCKET_TRANSPORTS
]
PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


BAD_NUMBERS = [
    ({"max_connections": 2.5}, TypeError, "max_connections must be a whole number"),
    ({"max_connections": 0}, ValueError, "max_connections must be at least 1"),
    ({"max_connections": True}, TypeError, "max_connections"),
    ({"max_connections": "10"}, TypeError, "max_connections"),
    ({"keepalive_expiry": math.nan}, ValueError, "keepalive_expiry must be a finite number"),
    ({"keepalive_expiry": -1}, ValueError, "keepalive_expiry"),
    ({"keepalive_expiry": math.inf}, ValueError, "keepalive_expiry"),
    ({"keepalive_expiry": "30"}, TypeError, "keepalive_expiry"),
    ({"connect_timeout": 0}, ValueError, "connect_timeout must be a finite number of seconds > 0"),
    ({"connect_timeout": math.nan}, ValueError, "connect_timeout"),
    ({"max_response_bytes": 0}, ValueError, "max_response_bytes must be at least 1"),
    ({"max_response_bytes": 1.5}, TypeError, "max_response_bytes must be a whole number of bytes"),
    ({"max_response_bytes": math.inf}, TypeError, "max_response_bytes"),
    ({"trust_env": "yes"}, TypeError, "trust_env must be True or False"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("options", "error", "message"), BAD_NUMBERS)
def test_bad_numbers_are_refused_at_construction(
    kind: str, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        make_transport(kind, **({"max_connections": 10} | options))
    assert "Transport" in str(info.value)  # names the transport to fix


@pytest.mark.parametrize("kind", KINDS)
def test_verify_takes_the_four_forms_and_nothing_else(kind: str, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="verify must be True, False, the path of a CA bundle"):
        make_transport(kind, verify=1)
    with pytest.raises(TypeError, match="verify must be"):
        make_transport(kind, verify=b"/etc/ssl/certs")
    with pytest.raises(ValueError, match="does not exist"):
        make_transport(kind, verify=str(tmp_path / "missing.pem"))
    make_transport(kind, verify=False)
    make_transport(kind, verify=ssl.create_default_context())
    make_transport(kind, verify=str(tmp_path))  # a directory of CA certificates


@pytest.mark.parametrize("kind", KINDS)
def test_cert_forms(kind: str, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="cert must be the path"):
        make_transport(kind, cert=42)
    with pytest.raises(ValueError, match="is not a file"):
        make_transport(kind, cert=(str(tmp_path / "c.pem"), str(tmp_path / "k.pem")))
    with pytest.raises(ValueError, match=r"cannot be combined with an ssl\.SSLContext"):
        make_transport(kind, verify=ssl.create_default_context(), cert=__file__)


@pytest.mark.parametrize("kind", ["httpcore", "aiohttp"])
def test_a_bad_certificate_file_fails_at_construction(kind: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="could not load the CA bundle or client certificate"):
        make_transport(kind, verify=str(junk))


@pytest.mark.parametrize("kind", KINDS)
def test_bad_proxies_are_refused_without_quoting_credentials(kind: str) -> None:
    with pytest.raises(ValueError, match="a socks5:// proxy is not supported") as info:
        make_transport(kind, proxy="socks5://user:hunter2@proxy:1080")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ValueError, match="port is not a port number") as info:
        make_transport(kind, proxy="http://user:hunter2@proxy:99999")
    assert "hunter2" not in str(info.value)
    with pytest.raises(TypeError, match="proxy must be a proxy URL string"):
        make_transport(kind, proxy=("proxy", 3128))


@pytest.mark.parametrize("kind", KINDS)
def test_proxy_credentials_never_show(kind: str) -> None:
    transport = make_transport(kind, proxy="http://alice:hunter2%21@proxy.example:3128")
    assert "hunter2" not in repr(transport)
    assert "proxy.example:3128" in repr(transport)


def test_an_unsupported_proxy_in_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://user:hunter2@proxy:1080")
    with pytest.raises(ValueError, match="the environment's all_proxy") as info:
        HttpcoreTransport()
    assert "hunter2" not in "".join(traceback.format_exception(info.value))
    HttpcoreTransport(trust_env=False)  # the way out, named in the message


def test_proxy_parsing() -> None:
    proxy = Proxy("alice:s%40cret@proxy.example:3128")  # no scheme: http, as httpx reads it
    assert proxy.url == "http://proxy.example:3128"
    assert proxy.auth == ("alice", "s@cret")
    assert proxy.authorization() == "Basic YWxpY2U6c0BjcmV0"
    assert "s@cret" not in repr(proxy) and "with credentials" in repr(proxy)
    assert Proxy("https://[::1]").url == "https://[::1]:443"
    assert Proxy("http://proxy").authorization() is None


def test_routes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://plain-proxy:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://tls-proxy:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example,localhost")
    routes = ProxyRoutes(None, trust_env=True)
    plain = routes.for_target("http", "api.example.com", 80)
    tls = routes.for_target("https", "api.example.com", 443)
    assert plain is not None and plain.url == "http://plain-proxy:3128"
    assert tls is not None and tls.url == "http://tls-proxy:3128"
    assert routes.for_target("https", "internal.example", 443) is None
    assert routes.for_target("https", "svc.internal.example", 443) is None
    assert routes.for_target("http", "localhost", 8000) is None
    assert ProxyRoutes(None, trust_env=False).for_target("https", "api.example.com", 443) is None


def test_all_proxy_serves_both_schemes_and_an_explicit_proxy_ignores_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALL_PROXY", "http://everything:3128")
    monkeypatch.setenv("NO_PROXY", "*")
    routes = ProxyRoutes(None, trust_env=True)
    assert routes.for_target("https", "api.example.com", 443) is None  # NO_PROXY=* wins
    monkeypatch.delenv("NO_PROXY")
    routes = ProxyRoutes(None, trust_env=True)
    assert [p.url for p in routes.proxies] == ["http://everything:3128"]
    explicit = ProxyRoutes("http://mine:8080", trust_env=True)
    target = explicit.for_target("http", "api.example.com", 80)
    assert target is not None and target.url == "http://mine:8080"


def test_ssl_cert_file_that_does_not_exist_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nope.pem"))
    with pytest.raises(ValueError, match=r"SSL_CERT_FILE=.* is not a file.*trust_env=False"):
        HttpcoreTransport()
    HttpcoreTransport(trust_env=False)


# -- the client passes them to its default transport ----------------------------------------------


def test_client_options_reach_the_default_transport(tmp_path: Path) -> None:
    client = AsyncClient(
        "https://api.example.com",
        proxy="http://user:pw@proxy.example:3128",
        verify=False,
        trust_env=False,
        max_response_bytes=1234,
    )
    transport = client.transport
    assert isinstance(transport, HttpcoreTransport)
    assert transport._limit == 1234
    assert transport._ssl_context.verify_mode == ssl.CERT_NONE
    assert "proxy.example:3128" in repr(transport) and "pw" not in repr(transport)
    assert HttpcoreTransport()._limit == DEFAULT_MAX_RESPONSE_BYTES


def test_client_options_with_a_transport_of_your_own_are_an_error() -> None:
    mock = MockTransport(lambda request: Response(200))
    with pytest.raises(TypeError, match=r"pass proxy, verify to the transport you give AsyncClient"):
        AsyncClient("https://api.example.com", transport=mock, proxy="http://p:1", verify=False)
    with pytest.raises(ValueError, match="HttpcoreTransport: max_response_bytes must be at least 1"):
        AsyncClient("https://api.example.com", max_response_bytes=-5)


def test_deprecated_names_still_work_and_warn() -> None:
    import asyncapi_client
    import asyncapi_client.transports as transports

    with pytest.warns(DeprecationWarning, match="HttpxTransport is deprecated: it is HttpcoreTransport"):
        assert asyncapi_client.HttpxTransport is HttpcoreTransport  # type: ignore[attr-defined]
    with pytest.warns(DeprecationWarning, match="use HttpcoreTransport"):
        from asyncapi_client.transports import HttpxTransport  # noqa: F401
    if installed("httpcore2"):
        with pytest.warns(DeprecationWarning, match="Httpx2Transport is deprecated"):
            assert transports.Httpx2Transport is transports.Httpcore2Transport
