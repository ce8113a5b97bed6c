"""`PyreqwestTransport`: pyreqwest's Rust client (reqwest + hyper on a tokio runtime). asyncio only.

The connection pool, HTTP parsing and TLS run in Rust, outside the GIL, so it spends the least
Python CPU per request of the transports. Extra `pyreqwest` (Python 3.11 and newer). Redirects
are not followed, pyreqwest's own decompression and status errors are off (the body goes
through the same `BodyReader` as every transport's; the SDK maps statuses itself), and reqwest's
own reading of the proxy environment is replaced by `_proxy.py`'s routing.

Three things pyreqwest 0.15 does not do that this class does:

- **Sent or not.** pyreqwest raises `ConnectError` both when connecting failed and when the
  connection closed after the request was written (hyper's "SendRequest" kind); only the first
  means nothing left, so only it is reported `request_sent=False`.
- **The connect timeout per request.** reqwest takes it per client, so there is one pyreqwest
  client per distinct `connect_timeout` the requests carry (a client's `Timeout.connect`; in
  practice one, at most `_MAX_CLIENTS`).
- **Cancellation.** Cancelling pyreqwest's coroutine detaches the Rust task instead of stopping
  it: the socket stays open until the reply or the request's timeout. So the cancellation is
  never passed on to pyreqwest's coroutine (`_Detachable`): a cancelled call hands the coroutine,
  still running, to a task of the transport's own, which drives it on and closes the response
  when it arrives, and `aclose()` waits for those requests (each bounded by its own timeout)
  before it closes the clients, so no socket outlives `aclose()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import math
import time
from collections.abc import Callable, Coroutine, Generator
from datetime import timedelta
from typing import Any, ClassVar

import anyio

from .._errors import APIConnectionError
from .._types import Request, Response, new_response
from ._base import connection_lost, merge_headers, no_free_connection, not_connected, split_origin, timed_out
from ._body import ACCEPT_ENCODING, DEFAULT_MAX_RESPONSE_BYTES, BodyReader, plain_within
from ._options import DEFAULT_CONNECT_TIMEOUT, TransportOptions
from ._proxy import Proxy
from ._slots import RequestSlots
from ._tls import CertTypes, VerifyTypes

_MAX_CLIENTS = 4
_NO_TIMEOUT_GRACE = 30.0  # how long aclose() waits for a cancelled request that had no timeout


def _import(name: str) -> Any:
    try:
        # importlib keeps mypy (and Python 3.10, where pyreqwest does not install) off the module.
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "PyreqwestTransport needs pyreqwest (Python 3.11+): pip install 'asyncapi-client[pyreqwest]'"
        ) from exc


class PyreqwestTransport:
    """`PyreqwestTransport(max_connections=100, keepalive_expiry=30.0, ...)`: options as
    `HttpcoreTransport`'s.

    `max_connections` bounds requests in flight (the rest wait for a slot); idle connections are
    kept `keepalive_expiry` seconds. Clients are built lazily, inside the running event loop.
    With an `ssl.SSLContext` as `verify`, the certificates it has loaded are trusted (reqwest's
    built-in roots too) and its verify mode is followed; a client certificate goes in `cert`.
    """

    bounds_each_send: ClassVar[bool] = True
    """Every `send` ends by `request.timeout`, on the real clock (reqwest's own timeout covers the body too), whatever the server does (the
    client relies on it to leave out its backstop: see `_shared_state.pipeline_bounded`)."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        http2: bool = False,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        proxy: str | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        options = TransportOptions(
            "PyreqwestTransport",
            max_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            connect_timeout=connect_timeout,
            verify=verify,
            cert=cert,
            trust_env=trust_env,
            proxy=proxy,
            max_response_bytes=max_response_bytes,
        )
        if not isinstance(http2, bool):
            raise TypeError(f"PyreqwestTransport: http2 must be True or False, got {http2!r}")
        self._client_module = _import("pyreqwest.client")
        self._proxy_module = _import("pyreqwest.proxy")
        self._exc = _import("pyreqwest.exceptions")
        self._tls = options.tls_material()
        if self._tls.verify and not self._tls.check_hostname:
            raise ValueError(
                "PyreqwestTransport: an SSLContext that verifies certificates but not host names "
                "cannot be expressed in reqwest; check host names, or pass verify=False"
            )
        self.max_connections = options.max_connections
        self._options = options
        self._http2 = http2
        self._limit = options.max_response_bytes
        self._default_connect = options.connect_timeout
        self._clients: dict[float, Any] = {}  # connect timeout -> pyreqwest client
        self._slots = RequestSlots(self.max_connections)
        self._closed = False
        self._timeouts: dict[int, timedelta] = {}  # milliseconds -> reqwest's timeout
        # Cancelled calls' requests still running in Rust -> when their own timeout ends them.
        self._abandoned: dict[asyncio.Future[None], float] = {}
        exc = self._exc
        self._not_sent_timeouts = (exc.ConnectTimeoutError, exc.PoolTimeoutError)
        self._not_sent = (exc.BuilderError, exc.ClientClosedError)

    # -- clients ---------------------------------------------------------------------------

    def _build(self, connect_timeout: float) -> Any:
        tls = self._tls
        builder = (
            self._client_module.ClientBuilder()
            # pyreqwest's own in-flight limit keeps the slot of a cancelled request (measured
            # with 0.15): the transport bounds requests in flight itself, with a semaphore.
            .max_connections(None)
            .pool_max_idle_per_host(self.max_connections)
            .pool_idle_timeout(timedelta(seconds=self._options.keepalive_expiry))
            .connect_timeout(timedelta(seconds=connect_timeout))
            .follow_redirects(False)
            .error_for_status(False)
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .referer(False)
            .danger_accept_invalid_certs(not tls.verify)
            .no_proxy()  # reqwest's own environment reading: _proxy.py decides instead
            # A default: a request's own Accept-Encoding wins (reqwest fills only absent ones),
            # one call into Rust less per request than adding it to each.
            .default_headers({"accept-encoding": ACCEPT_ENCODING})
        )
        builder = builder.http2(True) if self._http2 else builder.http1_only()
        for pem in tls.roots_pem:
            builder = builder.add_root_certificate_pem(pem)
        for der in tls.roots_der:
            builder = builder.add_root_certificate_der(der)
        if tls.identity_pem is not None:
            builder = builder.identity_pem(tls.identity_pem)
        for proxy in self._options.proxies.proxies:
            route = self._proxy_module.ProxyBuilder.custom(self._route(proxy))
            if proxy.auth is not None:
                route = route.basic_auth(*proxy.auth)
            builder = builder.proxy(route)
        return builder.build()

    def _route(self, proxy: Proxy) -> Callable[[Any], str | None]:
        """reqwest's proxy callback for `proxy`: its URL for the targets it serves, else None."""
        decided: dict[str, bool] = {}
        proxy_for = self._options.proxy_for

        def route(url: Any) -> str | None:
            origin = url.origin_ascii
            hit = decided.get(origin)
            if hit is None:
                scheme, host, port, _ = split_origin(origin + "/")
                hit = decided[origin] = proxy_for(scheme, host, port) == proxy
            return proxy.url if hit else None

        return route

    def _client(self, request: Request) -> Any:
        connect = request.extensions.get("connect_timeout") or self._default_connect
        client = self._clients.get(connect)
        if client is None:
            if self._closed:
                raise APIConnectionError(
                    f"the transport is closed ({request.method} {request.url})",
                    request=request,
                    request_sent=False,
                )
            if len(self._clients) >= _MAX_CLIENTS:
                return self._clients.get(self._default_connect) or next(iter(self._clients.values()))
            client = self._clients[connect] = self._build(connect)
        return client

    def _timedelta(self, seconds: float) -> timedelta:
        """reqwest's timeout for `seconds`, rounded up to the millisecond and cached: the retry
        layer cuts each attempt's timeout to what is left of the call, a float that differs on
        every request, so keying on it made a timedelta per request and filled the cache with
        keys never seen again. At most a millisecond late, never early."""
        millis = math.ceil(seconds * 1000)
        value = self._timeouts.get(millis)
        if value is None:
            value = timedelta(milliseconds=millis)
            if len(self._timeouts) < 1024:
                self._timeouts[millis] = value
        return value

    # -- sending ---------------------------------------------------------------------------

    async def send(self, request: Request) -> Response:
        """Send through pyreqwest's client (see `Transport.send`)."""
        slots = self._slots
        if not slots.take_now():
            try:
                await slots.wait(request.timeout)
            except TimeoutError:
                raise no_free_connection(request) from None
        streamed = pending = raw = None
        try:
            # The caches looked up inline (the usual case is a hit), as the aiohttp transport
            # does: a method call less for each.
            client = self._clients.get(request.extensions.get("connect_timeout") or self._default_connect)
            if client is None:
                client = self._client(request)
            builder = client.request(request.method, request.url).headers(request.headers)
            if request.content is not None:
                builder = builder.body_bytes(request.content)
            timeout = request.timeout
            if timeout is not None:
                reqwest_timeout = self._timeouts.get(math.ceil(timeout * 1000))
                builder = builder.timeout(reqwest_timeout or self._timedelta(timeout))
            streamed = builder.build_streamed()
            pending = _Detachable(streamed.__aenter__())
            try:
                raw = await pending
            except BaseException:
                if pending.detached:  # cancelled while Rust runs the request: finish it elsewhere
                    self._abandon(pending.coro, streamed, request.timeout)
                raise
            try:
                return await self._read(raw, request)
            finally:
                await streamed.__aexit__(None, None, None)
        except self._exc.PyreqwestError as exc:
            raise self._wrap(exc, request) from exc
        finally:
            slots.release()
            # pyreqwest closes its pool only when the last reference to its client goes, and a
            # caller may keep this frame (in a traceback) long after aclose(): keep none here.
            client = builder = streamed = pending = raw = None

    async def _read(self, raw: Any, request: Request) -> Response:
        status = raw.status
        raw_headers = raw.headers
        # reqwest's names are lower-case already (the http crate keeps them so): one call into
        # Rust builds the dict, a third of the Python loop's cost. A repeated name comes back as
        # a list there: then the values are joined as every transport joins them.
        headers = raw_headers.dict_multi_value()
        if len(headers) != len(raw_headers):
            headers = merge_headers(raw_headers.items())
        try:
            if plain_within(headers, self._limit):
                body = await raw.bytes()
                return new_response(status, headers, body.to_bytes(), request)
            reader = BodyReader(request, status, headers, self._limit)
            body_reader = raw.body_reader
            while True:
                chunk = await body_reader.read_chunk()
                if chunk is None:
                    break
                reader.feed(chunk.to_bytes())
            return new_response(status, headers, reader.finish(), request)
        finally:
            raw = raw_headers = body_reader = None  # as in send(): no reference to pyreqwest's objects kept

    def _abandon(self, pending: Coroutine[Any, Any, Any], streamed: Any, timeout: float | None) -> None:
        """A cancelled call's request, still running in Rust: a task of the transport's own
        drives it on and closes its response when it comes."""
        drain = asyncio.ensure_future(_drain(pending, streamed))
        self._abandoned[drain] = time.monotonic() + (_NO_TIMEOUT_GRACE if timeout is None else timeout)
        drain.add_done_callback(self._abandoned.pop)

    def _wrap(self, exc: Exception, request: Request) -> APIConnectionError:
        if isinstance(exc, self._exc.RequestTimeoutError):
            return timed_out(request, exc, sent=not isinstance(exc, self._not_sent_timeouts))
        if isinstance(exc, self._not_sent) or (
            isinstance(exc, self._exc.ConnectError) and _failed_connecting(exc)
        ):
            return not_connected(request, exc)
        return connection_lost(request, exc)

    async def aclose(self) -> None:
        """Wait for cancelled calls' requests still running in Rust (each bounded by its own
        timeout), then close the clients and their pools. Idempotent."""
        self._closed = True
        with anyio.CancelScope(shield=True):
            if self._abandoned:
                # Bounded: each request ends by its own timeout (plus a little for Rust to notice).
                wait = max(self._abandoned.values()) - time.monotonic() + 1.0
                await asyncio.wait(list(self._abandoned), timeout=max(wait, 0.0))
            clients, self._clients = list(self._clients.values()), {}
            for client in clients:
                await client.close()

    def __repr__(self) -> str:
        proxies = self._options.proxies.proxies
        shown = f", proxy={proxies[0].url!r}" if len(proxies) == 1 else ""
        return f"PyreqwestTransport(max_connections={self.max_connections}{shown})"


async def _drain(pending: Coroutine[Any, Any, Any], streamed: Any) -> None:
    # Its outcome has no caller any more: a failure is simply the end of it.
    with contextlib.suppress(Exception):
        await _Detachable(pending)
        await streamed.__aexit__(None, None, None)


class _Detachable:
    """`await _Detachable(coro)` drives `coro` in the awaiting task, but an exception thrown in
    (the task's cancellation) is not passed on to it: it is raised to the awaiting code with
    `detached` set, and `coro`, still suspended, can be driven on by another task.

    Cancelling pyreqwest's coroutine would detach its Rust task and lose the response (its
    socket open until the reply or the timeout, unseen by `aclose()`); running each request in
    a task of its own behind `asyncio.shield` kept it, at the price of a task, a shield future
    and two more turns of the event loop per request.

    It relies on what pyo3's coroutines do: driven again, they poll their Rust future afresh
    and, while it is pending, yield a new future to be woken by, whatever became of the one
    the cancelled task was waiting on. `tests/transports/test_detachable.py` holds the wrapper
    to that, and the conformance suite's cancellation tests hold pyreqwest to it.
    """

    __slots__ = ("coro", "detached")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        self.detached = False

    def __await__(self) -> Generator[Any, Any, Any]:
        return self  # type: ignore[return-value]  # the generator protocol, by hand

    def __next__(self) -> Any:
        return self.coro.send(None)

    def send(self, value: Any) -> Any:
        return self.coro.send(value)

    def throw(self, typ: Any, value: Any = None, tb: Any = None) -> Any:
        self.detached = True
        raise value if isinstance(value, BaseException) else typ

    def close(self) -> None:
        """Closing the awaiting coroutine leaves `coro` to its owner (see `detached`)."""


def _failed_connecting(exc: Exception) -> bool:
    """Did this `ConnectError` happen while connecting (hyper's "Connect" kind: nothing sent)?"""
    details = getattr(exc, "details", None)
    causes = details.get("causes") if isinstance(details, dict) else None
    return any(isinstance(c, dict) and c.get("message") == "client error (Connect)" for c in causes or ())
