"""The `asyncapi_client` logger hierarchy, redaction of every record it emits, and
`LoggingMiddleware`.

Every SDK module logs through `logging.getLogger("asyncapi_client.<area>")` (`.http`, `.retry`,
`.auth`, `.ratelimit`, `.webhooks`, ...). Configure them as one tree:

    logging.getLogger("asyncapi_client").setLevel(logging.DEBUG)

Redaction. A logger's filters only see records logged on that very logger, not the ones that
propagate up from its children, so a filter on `asyncapi_client` alone would miss
`asyncapi_client.retry`. Importing this module (which `import asyncapi_client` does) therefore
installs `RedactingFilter` twice on the `asyncapi_client` logger:

- as a logger filter, for records logged on `asyncapi_client` itself;
- on a handler that emits nothing. A record from any child logger propagates through the
  handlers of `asyncapi_client` before it reaches the root logger's handlers (where
  `logging.basicConfig`, pytest's caplog or your log shipper sit), and the filter scrubs the
  record in place on the way. This handler also plays the library `NullHandler` role.

The same two are installed on the `httpcore` logger, whose DEBUG trace (the HTTP layer the
default transport drives) prints raw response headers, where a server may echo a token.

So tokens, client secrets, webhook secrets and `Authorization` values are scrubbed (by
`asyncapi_client._redact.redact`: every secret value the SDK holds, and credential patterns in
JSON, form and Python-repr text) from the message, its arguments and the formatted traceback of
every SDK (and httpcore) record before your handlers see it. Not covered: handlers you attach directly to a child
logger (`asyncapi_client.retry`), loggers you set `propagate=False` on, and `dictConfig` or
`fileConfig` configuring the `asyncapi_client` logger itself (they remove its existing handlers,
the scrubbing one included); attach `RedactingFilter()` to those handlers yourself (in dictConfig:
`"filters": {"redact": {"()": "asyncapi_client.RedactingFilter"}}`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

from ._pipeline import CallNext
from ._redact import redact, redact_headers
from ._types import Request, Response

__all__ = ["LOGGER_NAME", "LoggingMiddleware", "RedactingFilter", "logger"]

LOGGER_NAME: Final = "asyncapi_client"
logger: Final = logging.getLogger(LOGGER_NAME)
_http_logger: Final = logging.getLogger(LOGGER_NAME + ".http")

_DONE: Final = "_asyncapi_client_redacted"


class RedactingFilter(logging.Filter):
    """Scrubs credentials from a record's message, arguments and traceback text, in place.

    When nothing needs scrubbing the record is left as it was (the message template and
    arguments stay separate, for aggregators that group by template). When something does, the
    record's `msg` becomes the scrubbed, formatted message and `args` is emptied. Never drops a
    record. Idempotent: a record passing several of these filters is scrubbed once.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _DONE, False):
            return True
        setattr(record, _DONE, True)
        try:
            message = record.getMessage()
        except Exception:
            # Arguments that do not fit the template: logging would print them in its error
            # report, so scrub their repr too.
            record.msg = redact(f"{record.msg!s} (arguments: {record.args!r})")
            record.args = ()
        else:
            scrubbed = redact(message)
            if scrubbed != message:
                record.msg = scrubbed
                record.args = ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse a cached exc_text; fill it with the scrubbed traceback.
            record.exc_text = redact(_TRACEBACK_FORMATTER.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_TRACEBACK_FORMATTER: Final = logging.Formatter()


class _ScrubbingHandler(logging.Handler):
    """Emits nothing; its filter scrubs each propagating record before the root's handlers."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.addFilter(RedactingFilter())

    def handle(self, record: logging.LogRecord) -> bool:
        # No lock needed: the filter only rewrites the record, and emit() is a no-op.
        return bool(self.filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        pass


# httpcore is the HTTP layer `HttpxTransport` drives: its DEBUG trace prints raw response
# headers, where a server may echo a token.
SCRUBBED_LOGGERS: Final = (LOGGER_NAME, "httpcore")


def _install() -> None:
    for name in SCRUBBED_LOGGERS:
        tree = logging.getLogger(name)
        # Import is idempotent even under importlib.reload: replace what an earlier import added.
        for existing in [f for f in tree.filters if type(f).__name__ == "RedactingFilter"]:
            tree.removeFilter(existing)
        for handler in [h for h in tree.handlers if type(h).__name__ == "_ScrubbingHandler"]:
            tree.removeHandler(handler)
        tree.addFilter(RedactingFilter())
        # First in the list, so that handlers added later on this logger see scrubbed records too.
        tree.handlers.insert(0, _ScrubbingHandler())


_install()


class LoggingMiddleware:
    """Logs one line per call: method, URL path, status (or the error), duration, request id.

    Add it to `AsyncClient(middleware=[LoggingMiddleware()])` for one line per call, or to
    `attempt_middleware=[...]` for one line per attempt (then the attempt number is logged too).
    Logs to `asyncapi_client.http` at DEBUG by default. The query string is not logged, and
    headers only when `include_headers=True`, with credentials masked. When the logger is not
    enabled for `level`, the middleware costs one check.
    """

    __slots__ = ("_clock", "_include_headers", "_level", "_logger")

    def __init__(
        self,
        *,
        level: int = logging.DEBUG,
        logger: logging.Logger | None = None,
        include_headers: bool = False,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._level = level
        self._logger = logger or _http_logger
        self._include_headers = include_headers
        self._clock = clock

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        log = self._logger
        level = self._level
        if not log.isEnabledFor(level):
            return await call_next(request)
        path = urlsplit(request.url).path or "/"
        attempt = request.extensions.get("attempt")
        prefix = (
            f"{request.method} {path}" if attempt is None else f"{request.method} {path} attempt {attempt}"
        )
        if self._include_headers:
            log.log(level, "%s request headers %s", prefix, redact_headers(request.headers))
        start = self._clock()
        try:
            response = await call_next(request)
        except BaseException as exc:
            log.log(
                level,
                "%s failed after %.1f ms: %s: %s",
                prefix,
                (self._clock() - start) * 1000.0,
                type(exc).__name__,
                # Scrubbed here too: a custom `logger=` may sit outside the asyncapi_client tree.
                redact(str(exc), sent=request),
            )
            raise
        elapsed_ms = (self._clock() - start) * 1000.0
        request_id = response.headers.get("x-request-id")
        if request_id:
            log.log(
                level,
                "%s -> %d in %.1f ms (request id %s)",
                prefix,
                response.status_code,
                elapsed_ms,
                request_id,
            )
        else:
            log.log(level, "%s -> %d in %.1f ms", prefix, response.status_code, elapsed_ms)
        if self._include_headers:
            log.log(level, "%s response headers %s", prefix, redact_headers(response.headers, sent=request))
        return response

    def __repr__(self) -> str:
        return f"LoggingMiddleware(level={logging.getLevelName(self._level)})"
