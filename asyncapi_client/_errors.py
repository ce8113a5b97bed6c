"""The exceptions users catch. Every failure the SDK reports is an `APIError`.

```
APIError
 +-- APIConnectionError          the request did not get an HTTP response
 |    +-- APITimeoutError
 +-- APIStatusError              the server answered 4xx/5xx (status_code, code, details, ...)
 |    +-- BadRequestError 400, AuthenticationError 401, PermissionDeniedError 403,
 |    |   NotFoundError 404, ConflictError 409, UnprocessableEntityError 422,
 |    |   RateLimitError 429 (retry_after), InternalServerError 5xx
 +-- ResponseDecodeError         a reply that is not the JSON it should be (or an unknown encoding)
 |    +-- ResponseTooLargeError  a reply over the transport's max_response_bytes
 +-- PaginationError             a paginated list whose pages do not add up (page, reason)
 +-- OAuthError                  the authorization server refused (RFC 6749 error, error_description)
 |    +-- AuthorizationError      a user's login did not complete: denied, a callback that is not
 |    |    |                      the login's, a code the token endpoint refused
 |    |    +-- StateMismatchError the callback's `state` is not the login's (forged or crossed)
 |    +-- ReconnectRequiredError  no usable grant for a user (none stored, refresh token revoked
 |                                or expired): send them through the login again
 +-- ClientClosedError           the client was used after aclose()
 +-- AsyncioRequiredError        a Redis backend under trio (redis-py's asyncio client needs asyncio)
 +-- CheckpointMismatchError     a checkpoint recorded with other settings (also a ValueError)
 +-- WebhookVerificationError    a webhook delivery failed verification
 +-- InvalidItemError            a bulk record refused client-side, never sent (also a ValueError)
```

Messages and `details` quote the server only through `redact` (given the request the reply
answers, so the exact credentials it carried are masked too), so no token or secret reaches a
log or a traceback.

Every exception pickles (to cross a `ProcessPoolExecutor` or a task queue) with its type, message,
status, code, details, request id and the rest of its fields, scrubbed once more on the way; the
`response` and `request` attributes stay behind (they hold the request's `Authorization` header
and the raw body) and are None on the other side.

The module stays whole (past 400 lines): it is the one place a user reads to know what to
catch, and the hierarchy above is its table of contents; the classes are short and most of
the length is their docstrings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, Union

from ._redact import redact, redact_value

if TYPE_CHECKING:
    from ._types import Request, Response

_EXCERPT_CHARS = 200

JSONValue: TypeAlias = Union[bool, int, float, str, list["JSONValue"], dict[str, "JSONValue"], None]
"""Any value JSON can hold."""

ErrorDetails: TypeAlias = Mapping[str, JSONValue]
"""An error's `details`: the envelope's `details` object as the server sent it (`{"field":
"email", "value": ...}`, `{"index": 3, ...}` for a bulk record), empty when it sent none. A
`details` that is not a JSON object is kept whole under `"raw"`."""

_NO_DETAILS: ErrorDetails = {}


# Attributes that hold the wire objects (and with them the request's credentials): they do not
# cross a pickle.
_LOCAL_ONLY: tuple[str, ...] = ("response", "request")


class APIError(Exception):
    """Base of every error the SDK raises about a call. `message` is the text (redacted of
    anything that looks like a credential); `details` is what the server (or the SDK, for a
    bulk record it refused to send) said about the cause, empty when nothing.

    `page` is set when the error ended a pager's stream: the number of the page that could not
    be fetched or read. Pass it as `start_page` to resume there (every item before it was
    handed over). None otherwise.
    """

    message: str
    details: ErrorDetails = _NO_DETAILS
    # False when a layer knows a retry cannot help (the retry layer then gives up at once).
    retryable: bool = True
    page: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self._with_page(super().__str__())

    def at_page(self, page: int) -> APIError:
        """A copy of this error carrying `page`, for a pager to raise. A copy, because the
        error may be shared: one failed token refresh is raised to every call waiting on it,
        and only the pager's own copy may say where to resume."""
        cls = type(self)
        copy = cls.__new__(cls, *self.args)
        copy.args = self.args
        copy.__dict__.update(self.__dict__)
        copy.page = page
        return copy.with_traceback(self.__traceback__)

    def _with_page(self, text: str) -> str:
        if self.page is None:
            return text
        return f"{text} [page {self.page}; resume with start_page={self.page}]"

    def __reduce__(self) -> tuple[Any, ...]:
        sent = getattr(self, "request", None) or getattr(getattr(self, "response", None), "request", None)
        state = {
            name: None if name in _LOCAL_ONLY else redact_value(value, sent=sent)
            for name, value in self.__dict__.items()
        }
        return _rebuild, (type(self), redact_value(list(self.args), sent=sent), state)


class APIConnectionError(APIError):
    """No HTTP response was received: refused, reset, dropped, DNS, TLS.

    `request_sent` is False when the failure happened before any byte of the request left
    (so even a POST may be retried safely), True or None (unknown) otherwise.
    """

    def __init__(
        self,
        message: str = "Connection error.",
        *,
        request: Request | None = None,
        request_sent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.request = request
        self.request_sent = request_sent


class APITimeoutError(APIConnectionError):
    """The attempt, or the whole call, ran out of time."""

    def __init__(
        self,
        message: str = "Request timed out.",
        *,
        request: Request | None = None,
        request_sent: bool | None = None,
    ) -> None:
        super().__init__(message, request=request, request_sent=request_sent)


class APIStatusError(APIError):
    """The server answered with a 4xx or 5xx status: `status_code`, the envelope's `code`,
    `message` and `details`, the `request_id` (`X-Request-Id`) and the `response`."""

    status: ClassVar[int | None] = None

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str | None = None,
        details: ErrorDetails | None = None,
        request_id: str | None = None,
        response: Response | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code
        self.details = _NO_DETAILS if details is None else details
        self.request_id = request_id
        self.response = response

    def __str__(self) -> str:
        parts = [f"{self.status_code}"]
        if self.code:
            parts.append(self.code)
        text = " ".join(parts) + f": {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return self._with_page(text)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class BadRequestError(APIStatusError):
    """400: the request is wrong (`details.field` names the field at fault)."""

    status = 400


class AuthenticationError(APIStatusError):
    """401: the credentials were refused (after one token refresh and replay)."""

    status = 401


class PermissionDeniedError(APIStatusError):
    """403: authenticated, but not allowed."""

    status = 403


class NotFoundError(APIStatusError):
    """404: no such resource."""

    status = 404


class ConflictError(APIStatusError):
    """409: the resource exists already (a taken email)."""

    status = 409


class UnprocessableEntityError(APIStatusError):
    """422: well-formed but refused by the server's rules."""

    status = 422


class RateLimitError(APIStatusError):
    """429. `retry_after` is the server's `Retry-After` in seconds, when it sent one."""

    status = 429

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """Any 5xx."""


class ResponseDecodeError(APIError):
    """A reply that is not the JSON it should be: an HTML error page, a truncated body, a shape
    that does not match the model. Carries the status and a short, redacted excerpt."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        excerpt: str = "",
        response: Response | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.excerpt = excerpt
        self.response = response

    @classmethod
    def from_response(cls, response: Response, reason: str) -> ResponseDecodeError:
        """The error for `response`, saying `reason` and quoting the start of its body (redacted,
        of the credentials the request carried too)."""
        sent = response.request
        excerpt = body_excerpt(response.content, sent=sent)
        # The reason may quote a value from the body too (a model field that failed to decode).
        reason = redact(reason, sent=sent)
        return cls(
            f"Could not decode the {response.status_code} reply: {reason}. Body starts: {excerpt!r}",
            status_code=response.status_code,
            excerpt=excerpt,
            response=response,
        )


class ResponseTooLargeError(ResponseDecodeError):
    """A reply over the transport's `max_response_bytes`: by its `Content-Length` (nothing is
    read) or counted while reading, after decompression. The connection it came on is closed,
    and the call is not retried (the same request would get the same reply)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        limit: int = 0,
        request: Request | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.limit = limit
        self.request = request


class PaginationError(APIError):
    """A paginated list whose pages do not add up; the stream ends with this error.

    `page` is the page whose reply broke a rule and `reason` a stable code: `page_mismatch` (the
    reply is another page than the one asked for), `repeated_page` (the same items as the page
    before), `no_progress` (several pages in a row with no item not seen on the last few pages).
    Every item of the pages before `page` was handed over.
    """

    def __init__(self, message: str, *, page: int, reason: str) -> None:
        super().__init__(message)
        self.page = page
        self.reason = reason


class OAuthError(APIError):
    """The authorization server refused or failed (RFC 6749 sections 4.1.2.1 and 5.2).

    `error` is the RFC 6749 code (`invalid_grant`, `access_denied`, ...) or one of the SDK's
    (`invalid_token_response`, `unexpected_response`, ...); `error_description` is the server's
    text. Both are redacted: the credentials the token request carried (client secret, Basic
    credentials, refresh token, code) are masked even when quoted back. `status_code` is the
    HTTP status when there was a reply."""

    _doing = "OAuth token request failed"

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        *,
        status_code: int | None = None,
        response: Response | None = None,
    ) -> None:
        sent = None if response is None else response.request
        error = redact(error, sent=sent)
        if error_description is not None:
            error_description = redact(error_description, sent=sent)
        text = f"{self._doing}: {error}"
        if error_description:
            text += f" ({error_description})"
        super().__init__(text)
        self.error = error
        self.error_description = error_description
        self.status_code = status_code
        self.response = response


class AuthorizationError(OAuthError):
    """A user's authorization-code login did not complete: the authorization server redirected
    back with an error (`access_denied`, ...), the callback does not belong to the login
    (`invalid_callback`), or the token endpoint refused the code (`invalid_grant`: a code used
    twice or expired, a wrong PKCE verifier, another `redirect_uri`; `invalid_request`,
    `invalid_scope`). Start a new login."""

    _doing = "OAuth authorization failed"
    retryable = False


class StateMismatchError(AuthorizationError):
    """The callback's `state` is missing or is not the one its login sent: a forged callback
    (login CSRF) or one from another login. Nothing was sent to the token endpoint."""


class ReconnectRequiredError(OAuthError):
    """The SDK holds no usable grant for this user: none was stored, or the authorization
    server refused the refresh token (`invalid_grant`: revoked, expired, already spent). The
    stored tokens are dropped; the user must go through the login again. `user_id` is the
    application's id of that user."""

    _doing = "the user must connect again"
    retryable = False

    def __init__(
        self,
        error: str,
        error_description: str | None = None,
        *,
        status_code: int | None = None,
        user_id: str | None = None,
    ) -> None:
        super().__init__(error, error_description, status_code=status_code)
        self.user_id = user_id


class ClientClosedError(APIError, RuntimeError):
    """The client was used after `aclose()` (or after its `async with` block ended)."""


class WebhookVerificationError(APIError):
    """A webhook delivery failed verification; the message names the check, never the bytes.

    `reason` is a stable code for the failed check (`missing_header`, `invalid_timestamp`,
    `invalid_header`, `timestamp_too_old`, `timestamp_too_new`, `invalid_signature`,
    `no_matching_signature`, `invalid_body`, `invalid_payload`, `invalid_secret`), for mapping
    to HTTP statuses.
    """

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class InvalidItemError(APIError, ValueError):
    """A bulk record that is not exactly `{"name": str, "email": str}` (or a `NewUser`); never sent.

    `details` is `{"index": <input index>, "field": <the field at fault or None>}`.
    """

    def __init__(self, message: str, *, index: int, field: str | None) -> None:
        super().__init__(message)
        self.index = index
        self.field = field
        self.details = {"index": index, "field": field}


class AsyncioRequiredError(APIError, RuntimeError):
    """A Redis backend (token store, rate-limit backend, dedupe or checkpoint store) was made
    or used under trio: redis-py's asyncio client runs on asyncio only (on trio it fails with
    "no running event loop"). Run that program with asyncio, or leave the Redis backend out."""


class CheckpointMismatchError(APIError, ValueError):
    """A checkpoint was recorded by a job or listing with other settings (chunk size, page
    size, page range): resuming from it would skip or repeat records. Use the settings of the
    first run, or delete the checkpoint (`store.delete(key)`) to start afresh."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def _rebuild(cls: type[APIError], args: list[Any], state: dict[str, Any]) -> APIError:
    """Unpickle without calling `__init__` (whose keyword-only arguments pickle cannot pass)."""
    exc = cls.__new__(cls, *args)
    exc.args = tuple(args)
    exc.__dict__.update(state)
    return exc


def body_excerpt(content: bytes, *, sent: Request | None = None) -> str:
    # Redacted before it is cut, so a secret straddling the cut is still found whole.
    text = content[: _EXCERPT_CHARS * 2].decode("utf-8", "replace")
    return redact(text, sent=sent)[:_EXCERPT_CHARS]


def status_error_class(status_code: int) -> type[APIStatusError]:
    if status_code >= 500:
        return InternalServerError
    return _BY_STATUS.get(status_code, APIStatusError)


def error_from_envelope(
    status_code: int,
    envelope: Any,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    response: Response | None = None,
    fallback_message: str | None = None,
) -> APIStatusError:
    """Build the typed error for a non-2xx reply from its decoded body (pure; no I/O).

    The class follows the status, not `code`: an envelope whose code the SDK does not know still
    maps by status. A body that is not the envelope keeps the status and a generic message.
    """
    code: str | None = None
    message: str | None = None
    details: ErrorDetails | None = None
    if isinstance(envelope, Mapping):
        err = envelope.get("error")
        if isinstance(err, Mapping):
            raw_code = err.get("code")
            code = raw_code if isinstance(raw_code, str) else None
            raw_message = err.get("message")
            message = raw_message if isinstance(raw_message, str) else None
            raw_details = err.get("details")
            if isinstance(raw_details, Mapping):
                details = raw_details
            elif raw_details is not None:
                details = {"raw": raw_details}
    if message is None:
        message = fallback_message or f"HTTP {status_code}"
    sent = None if response is None else response.request
    message = redact(message, sent=sent)
    if code is not None:
        code = redact(code, sent=sent)
    if request_id is not None:
        request_id = redact(request_id, sent=sent)
    cls = status_error_class(status_code)
    kwargs: dict[str, Any] = dict(
        status_code=status_code,
        code=code,
        details=None if details is None else redact_value(details, sent=sent),
        request_id=request_id,
        response=response,
    )
    if cls is RateLimitError:
        return RateLimitError(message, retry_after=retry_after, **kwargs)
    return cls(message, **kwargs)
