"""Scrub credentials out of text that may reach a log line or an exception message.

Server replies are echoed in errors as short excerpts; a reply from a token endpoint, or a
misbehaving proxy, may carry a token there. Everything the SDK quotes from the wire goes
through `redact` first.
"""

from __future__ import annotations

import re
from typing import Final

_JSON_SECRET: Final = re.compile(
    r'("(?:access_token|refresh_token|id_token|client_secret|secret|token|password)"\s*:\s*)"[^"]*"?',
    re.IGNORECASE,
)
_FORM_SECRET: Final = re.compile(
    r"((?:access_token|refresh_token|id_token|client_secret|secret|token|password)=)[^&\s]*",
    re.IGNORECASE,
)
_BEARER: Final = re.compile(r"((?:Bearer|Basic)\s+)[A-Za-z0-9\-._~+/=]+", re.IGNORECASE)
_WHSEC: Final = re.compile(r"whsec_[A-Za-z0-9+/=]+")

SENSITIVE_HEADERS: Final = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)


def redact(text: str) -> str:
    text = _JSON_SECRET.sub(r'\1"***"', text)
    text = _FORM_SECRET.sub(r"\1***", text)
    text = _BEARER.sub(r"\1***", text)
    return _WHSEC.sub("whsec_***", text)


def redact_headers(headers: dict[str, str] | object) -> dict[str, str]:
    """A copy of `headers` fit for a log line: credential-bearing values masked."""
    items = headers.items() if hasattr(headers, "items") else ()
    return {k: ("***" if k.lower() in SENSITIVE_HEADERS else v) for k, v in items}
