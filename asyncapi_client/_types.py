"""The pipeline's own request and response: small, immutable, and free of any HTTP library.

Transports adapt these at the bottom of the pipeline, so that a transport other than httpx never
builds httpx objects. Header names are kept lower-case (HTTP/2 requires it, and it makes lookups
a plain dict access). A middleware that changes a request makes a new one with `.replace()` or
`.with_headers()`. (Inside the SDK, each attempt's headers are a copy of its own, made by the
retry layer, which the auth layer may set a header in: see `RetryMiddleware`.)

The SDK's layers build and rebuild requests with `new_request` and the transports their
responses with `new_response`: the fields as given, without the checks of `__init__`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from . import _json
from ._c_builders import speedups
from ._errors import ResponseDecodeError

_NO_EXTENSIONS: Final[Mapping[str, Any]] = MappingProxyType({})
_REQUEST_FIELDS: Final = ("method", "url", "headers", "content", "timeout", "extensions")

# Building without `object.__setattr__`: `new_request` fills a mutable twin of the class (same
# slots, same layout) with plain attribute stores and then retypes it, about 150 ns against 440 for
# six `object.__setattr__` calls; two Requests and a Response are built per call.
_new = object.__new__


class _RequestFields:
    __slots__ = _REQUEST_FIELDS

    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    timeout: float | None
    extensions: Mapping[str, Any]


class _RequestBuilder(_RequestFields):
    __slots__ = ()


def new_request(
    method: str,
    url: str,
    headers: dict[str, str],
    content: bytes | None,
    timeout: float | None,
    extensions: Mapping[str, Any],
) -> Request:
    """A `Request` from fields already in the pipeline's form (method upper-case, header names
    lower-case, `headers` a dict of this request's own): what every layer of the SDK that builds
    or rebuilds a request calls, one plain function call and no checks."""
    self: Any = _new(_RequestBuilder)
    self.method = method
    self.url = url
    self.headers = headers
    self.content = content
    self.timeout = timeout
    self.extensions = extensions
    self.__class__ = Request
    return self  # type: ignore[no-any-return]


class Request(_RequestFields):
    """One HTTP request as it moves down the pipeline.

    `timeout` is what this attempt may take, in seconds (the retry layer cuts it to what is left
    of the call's deadline). `extensions` carries per-call settings between layers: `"auth"` (the
    auth strategy of the calling view), `"deadline"` (monotonic seconds, on the client's clock),
    `"connect_timeout"`, `"attempt"`.
    """

    __slots__ = ()

    def __init__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        timeout: float | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "method", method.upper())
        set_(self, "url", url)
        set_(self, "headers", {k.lower(): v for k, v in headers.items()} if headers else {})
        set_(self, "content", content)
        set_(self, "timeout", timeout)
        set_(self, "extensions", extensions if extensions is not None else _NO_EXTENSIONS)

    @classmethod
    def _trusted(
        cls,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        timeout: float | None,
        extensions: Mapping[str, Any],
    ) -> Request:
        # `new_request` as a class method, for the callers that name the class (and a subclass).
        request = new_request(method, url, headers, content, timeout, extensions)
        if cls is not Request:
            object.__setattr__(request, "__class__", cls)
        return request

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Request is immutable: use .replace() or .with_headers()")

    def replace(self, **changes: Any) -> Request:
        """A copy with these fields (`method`, `url`, `headers`, `content`, `timeout`, `extensions`)
        replaced."""
        values = {name: getattr(self, name) for name in _REQUEST_FIELDS}
        values.update(changes)
        if "headers" in changes:
            values["headers"] = {k.lower(): v for k, v in changes["headers"].items()}
        unknown = values.keys() - _REQUEST_FIELDS
        if unknown:
            raise TypeError(f"replace() got an unexpected keyword argument {sorted(unknown)[0]!r}")
        return new_request(*[values[name] for name in _REQUEST_FIELDS])

    def with_headers(self, **headers: str) -> Request:
        """A copy with these headers set (underscores in names become dashes)."""
        merged = dict(self.headers)
        for name, value in headers.items():
            merged[name.replace("_", "-").lower()] = value
        return new_request(self.method, self.url, merged, self.content, self.timeout, self.extensions)

    def with_header(self, name: str, value: str) -> Request:
        """A copy with header `name` set to `value`."""
        merged = dict(self.headers)
        merged[name.lower()] = value
        return new_request(self.method, self.url, merged, self.content, self.timeout, self.extensions)

    def with_extensions(self, **extensions: Any) -> Request:
        """A copy with these extensions set (`auth`, `deadline`, `attempt`, ...)."""
        merged = dict(self.extensions)
        merged.update(extensions)
        return new_request(self.method, self.url, self.headers, self.content, self.timeout, merged)

    def __repr__(self) -> str:
        # Never the headers: Authorization lives there.
        return f"<Request {self.method} {self.url}>"


class _ResponseFields:
    __slots__ = ("status_code", "headers", "content", "request")

    status_code: int
    headers: dict[str, str]
    content: bytes
    request: Request | None


class _ResponseBuilder(_ResponseFields):
    __slots__ = ()


def new_response(
    status_code: int, headers: dict[str, str], content: bytes, request: Request | None
) -> Response:
    """A `Response` from fields already in the pipeline's form (header names lower-case,
    `headers` a dict of its own): what the transports build theirs with."""
    self: Any = _new(_ResponseBuilder)  # see _new above
    self.status_code = status_code
    self.headers = headers
    self.content = content
    self.request = request
    self.__class__ = Response
    return self  # type: ignore[no-any-return]


class Response(_ResponseFields):
    """One HTTP response, body fully read."""

    __slots__ = ()

    def __init__(
        self,
        status_code: int,
        headers: Mapping[str, str] | None = None,
        content: bytes = b"",
        request: Request | None = None,
    ) -> None:
        set_ = object.__setattr__
        set_(self, "status_code", status_code)
        set_(self, "headers", {k.lower(): v for k, v in headers.items()} if headers else {})
        set_(self, "content", content)
        set_(self, "request", request)

    @classmethod
    def _trusted(
        cls, status_code: int, headers: dict[str, str], content: bytes, request: Request | None
    ) -> Response:
        response = new_response(status_code, headers, content, request)
        if cls is not Response:
            object.__setattr__(response, "__class__", cls)
        return response

    @classmethod
    def json_response(
        cls,
        status_code: int,
        data: Any,
        headers: Mapping[str, str] | None = None,
        request: Request | None = None,
    ) -> Response:
        """A response with `data` as its JSON body: handy in `MockTransport` handlers."""
        merged = {"content-type": "application/json"}
        if headers:
            merged.update({k.lower(): v for k, v in headers.items()})
        body = json.dumps(data, separators=(",", ":")).encode()
        return cls._trusted(status_code, merged, body, request)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Response is immutable")

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status_code < 300

    @property
    def request_id(self) -> str | None:
        """The server's `X-Request-Id`, for support requests and logs."""
        return self.headers.get("x-request-id")

    def json(self) -> Any:
        """The body decoded as JSON (`json.loads`' answer, see `_json`); anything else raises
        `ResponseDecodeError`."""
        try:
            return _json.loads(self.content)
        except _json.PARSE_ERRORS as exc:
            reason = f"the body is not valid JSON ({type(exc).__name__})"
        # Raised outside the handler: the parser's error holds the whole body, and must not
        # travel as this error's __context__ (a pickler such as tblib's carries the chain).
        raise ResponseDecodeError.from_response(self, reason)

    def __repr__(self) -> str:
        return f"<Response [{self.status_code}]>"


# With the C extension, the same two builders in C (`_speedups.Maker`): a request or a response
# is then made without a Python frame (two requests and a response per call).
if not TYPE_CHECKING and speedups is not None:
    new_request = speedups.Maker(Request, [_RequestFields.__dict__[name] for name in _REQUEST_FIELDS]).make
    new_response = speedups.Maker(
        Response, [_ResponseFields.__dict__[name] for name in _ResponseFields.__slots__]
    ).make
