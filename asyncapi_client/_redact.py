"""Scrub credentials out of text the SDK quotes from the wire: the one place all such text passes.

Servers quote requests back: a 401 message naming the token it refused, an HTML error page
echoing the headers, an OAuth `error_description` repeating the client secret. Every text the SDK
takes from a reply into an exception or a log line goes through `redact` (the error envelope's
message and `details`, decode-error excerpts, the token endpoint's error fields, response headers
in `LoggingMiddleware` lines, and every record of the `asyncapi_client` loggers), which masks:

1. **Exact values the SDK knows.** Every secret it holds: each live `Secret` (access and refresh
   tokens, client secrets, `BearerToken` headers, webhook secrets) registers itself here on
   creation and drops out when it is garbage. And every credential the request being answered
   carried (`sent=`): its `Authorization`, `Proxy-Authorization`, `X-Api-Key` and `Cookie`
   values, and query or form fields whose names look like credentials. Each in the forms a
   server quotes it in: as sent, URL-encoded, and for `Basic` both the base64 text and the
   decoded `id:secret`. Values shorter than `MIN_EXACT_CHARS` are left to the patterns: masking
   a 3-letter value everywhere would shred ordinary words.
2. **Patterns** for values it cannot know: `"access_token": "..."` (JSON and Python reprs),
   `token=...` form fields, `Bearer <credential>` and `Basic <credential>`, `whsec_...`. A
   credential after `Bearer` or `Basic` must look like one (a digit or one of `-._~+/=` inside,
   16 characters at least, or base64 of `id:secret`), so "missing bearer token" stays readable.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlsplit

if TYPE_CHECKING:
    from ._types import Request

MASK: Final = "***"
MIN_EXACT_CHARS: Final = 8

_SECRET_NAMES: Final = "access_token|refresh_token|id_token|client_secret|secret|token|password"
_JSON_SECRET: Final = re.compile(rf'("(?:{_SECRET_NAMES})"\s*:\s*)"[^"]*"?', re.IGNORECASE)
# Python reprs quote dict keys with single quotes: {'refresh_token': '...'} (log arguments).
_PY_REPR_SECRET: Final = re.compile(
    rf"""('(?:{_SECRET_NAMES})'\s*:\s*)(?:'[^']*'?|"[^"]*"?)""", re.IGNORECASE
)
_FORM_SECRET: Final = re.compile(rf"((?:{_SECRET_NAMES})=)[^&\s]*", re.IGNORECASE)
_SCHEME_CREDENTIAL: Final = re.compile(r"((?:Bearer|Basic)\s+)([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
_CREDENTIAL_MARK: Final = re.compile(r"[0-9\-_~+/=.]")
_WHSEC: Final = re.compile(r"whsec_[A-Za-z0-9+/=]+")

SENSITIVE_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
#: Query and form field names whose values are treated as credentials.
SENSITIVE_PARAM: Final = re.compile(
    r"token|secret|key|pass|sig|auth|code|credential|session|cookie|assertion", re.IGNORECASE
)
_FORM_TYPE: Final = "application/x-www-form-urlencoded"


# -- the values the SDK holds --------------------------------------------------------------

# id(owner) -> (weak reference to the owner, its value). Entries whose owner died are queued by
# the weakref callback and dropped under the lock later: a callback may run in the middle of a
# snapshot (garbage collection can start on any allocation). Registering is cheap (a Secret is
# made per web request in some apps); the forms of a value are worked out when text is scrubbed.
_held: dict[int, _Held] = {}
_dead: list[int] = []
_lock = threading.Lock()


class _Held:
    __slots__ = ("ref", "value", "forms")

    def __init__(self, ref: weakref.ref[Any], value: str) -> None:
        self.ref = ref
        self.value = value
        self.forms: tuple[str, ...] | None = None  # worked out on first use, dropped with the entry


def hold(owner: object, value: str) -> None:
    """Remember `value` for as long as `owner` (a `Secret`) lives."""
    if len(value) < MIN_EXACT_CHARS:
        return
    key = id(owner)
    ref = weakref.ref(owner, lambda _ref: _dead.append(key))
    with _lock:
        if _dead:
            _drop_dead()
        _held[key] = _Held(ref, value)


def _drop_dead() -> None:
    while _dead:
        key = _dead.pop()
        entry = _held.get(key)
        if entry is not None and entry.ref() is None:
            del _held[key]


def _held_forms() -> list[str]:
    with _lock:
        _drop_dead()
        entries = list(_held.values())
    found: list[str] = []
    for entry in entries:
        if entry.ref() is None:
            continue
        if entry.forms is None:
            entry.forms = tuple(_forms(entry.value))
        found.extend(entry.forms)
    return found


def _forms(value: str) -> Iterator[str]:
    """The forms in which a server might quote `value` back."""
    scheme, sep, credential = value.partition(" ")
    if sep and scheme.lower() in ("bearer", "basic"):
        # An Authorization value: mask the credential, keep the scheme readable.
        credential = credential.strip()
        yield from _plain_forms(credential)
        if scheme.lower() == "basic":
            yield from _basic_forms(credential)
        return
    yield from _plain_forms(value)


def _plain_forms(value: str) -> Iterator[str]:
    if len(value) < MIN_EXACT_CHARS:
        return
    yield value
    for encoded in (quote(value, safe=""), quote_plus(value, safe="")):
        if encoded != value:
            yield encoded


def _basic_forms(credential: str) -> Iterator[str]:
    try:
        raw = base64.b64decode(credential, validate=True)
    except (binascii.Error, ValueError):
        return
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        decoded = raw.decode("latin-1")
    yield from _plain_forms(decoded)
    _, colon, password = decoded.partition(":")
    if colon:
        yield from _plain_forms(password)
        yield from _plain_forms(unquote(password))


def sent_credentials(request: Request | None) -> list[str]:
    """The credentials `request` carried, in the forms a server might quote them back."""
    if request is None:
        return []
    found: list[str] = []
    for name, value in request.headers.items():
        if name == "cookie":
            for pair in value.split(";"):
                found.extend(_plain_forms(pair.partition("=")[2].strip()))
        elif name in SENSITIVE_HEADERS:
            found.extend(_forms(value))
    query = urlsplit(request.url).query
    fields = _sensitive_fields(query) if query else []
    content = request.content
    if content and request.headers.get("content-type", "").startswith(_FORM_TYPE):
        fields.extend(_sensitive_fields(content.decode("latin-1")))
    for value in fields:
        found.extend(_plain_forms(value))
    return found


def _sensitive_fields(query: str) -> list[str]:
    return [value for name, value in parse_qsl(query, keep_blank_values=True) if SENSITIVE_PARAM.search(name)]


# -- scrubbing -----------------------------------------------------------------------------


def _credential(match: re.Match[str]) -> str:
    credential = match.group(2).rstrip("=.")  # padding or a full stop says nothing ("realm=")
    if len(credential) >= 16 or _CREDENTIAL_MARK.search(credential) or _is_basic(match.group(2)):
        return match.group(1) + MASK
    return match.group(0)


def _is_basic(credential: str) -> bool:
    """Whether `credential` is base64 of `id:secret` (Basic credentials, however short)."""
    try:
        return b":" in base64.b64decode(credential, validate=True)
    except (binascii.Error, ValueError):
        return False


def _known(sent: Request | None, also: Iterable[str]) -> list[str]:
    values = [*_held_forms(), *sent_credentials(sent), *(v for a in also for v in _plain_forms(a))]
    # Longest first: a value that contains another is masked whole.
    return sorted(set(values), key=len, reverse=True)


def redact(text: str, *, sent: Request | None = None, also: Iterable[str] = ()) -> str:
    """`text` with every known secret (held, carried by `sent`, or in `also`) and every
    credential-looking pattern masked."""
    for value in _known(sent, also):
        if value in text:
            text = text.replace(value, MASK)
    return _patterns(text)


def _patterns(text: str) -> str:
    text = _JSON_SECRET.sub(rf'\1"{MASK}"', text)
    text = _PY_REPR_SECRET.sub(rf"\1'{MASK}'", text)
    text = _FORM_SECRET.sub(rf"\1{MASK}", text)
    text = _SCHEME_CREDENTIAL.sub(_credential, text)
    return _WHSEC.sub("whsec_" + MASK, text)


_MAX_DEPTH: Final = 32
_SECRET_KEY: Final = re.compile(rf"^(?:{_SECRET_NAMES})$", re.IGNORECASE)


def redact_value(value: Any, *, sent: Request | None = None) -> Any:
    """A copy of a decoded JSON value (an error's `details`) with every string redacted, and the
    value of every key named like a credential masked. Nesting past 32 levels is cut off."""
    known = _known(sent, ())

    def walk(item: Any, depth: int) -> Any:
        if isinstance(item, str):
            for secret in known:
                if secret in item:
                    item = item.replace(secret, MASK)
            return _patterns(item)
        if depth >= _MAX_DEPTH and isinstance(item, (dict, list)):
            return "<nested too deep>"
        if isinstance(item, dict):
            return {
                walk(k, depth + 1) if isinstance(k, str) else k: (
                    MASK
                    if isinstance(k, str) and _SECRET_KEY.match(k) and v is not None
                    else walk(v, depth + 1)
                )
                for k, v in item.items()
            }
        if isinstance(item, list):
            return [walk(v, depth + 1) for v in item]
        return item

    return walk(value, 0)


def redact_headers(headers: Mapping[str, str] | object, *, sent: Request | None = None) -> dict[str, str]:
    """A copy of `headers` fit for a log line: credential-bearing values masked, every other
    value redacted (a server may echo a token in any header)."""
    items = headers.items() if isinstance(headers, Mapping) else ()
    known = _known(sent, ())
    shown: dict[str, str] = {}
    for name, value in items:
        if name.lower() in SENSITIVE_HEADERS:
            shown[name] = MASK
            continue
        for secret in known:
            if secret in value:
                value = value.replace(secret, MASK)
        shown[name] = _patterns(value)
    return shown
