"""`SandboxConfig`: the sandbox's options, validated at construction.

The same names serve as keyword arguments (`Sandbox(token_ttl=1)`), CLI flags (`--token-ttl 1`)
and keys of `POST /_sandbox/config` (the runtime-changeable subset in `RUNTIME_OPTIONS`).
"""

from __future__ import annotations

import math
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

DEFAULT_CLIENT_ID: Final = "demo-client"
DEFAULT_CLIENT_SECRET: Final = "demo-secret"  # demo credentials, documented in the README
# The client's registered redirect URI; on a loopback host any port matches (RFC 8252 7.3).
DEFAULT_REDIRECT_URI: Final = "http://127.0.0.1/oauth/callback"


def _number(minimum: float = 0.0) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"SandboxConfig.{attribute.name} must be a finite number, got {value!r}")
        if value < minimum:
            raise ValueError(f"SandboxConfig.{attribute.name} must be >= {minimum:g}, got {value!r}")

    return check


def _integer(minimum: int = 0, maximum: int | None = None) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"SandboxConfig.{attribute.name} must be an integer, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise ValueError(f"SandboxConfig.{attribute.name} must be {bound}, got {value!r}")

    return check


def _fraction(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0.0 <= value <= 1.0
    ):
        raise ValueError(
            f"SandboxConfig.{attribute.name} must be a fraction between 0 and 1 (0.1 = 10% of replies), "
            f"got {value!r}"
        )


def _text(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value or value.strip() != value or ":" in value:
        raise ValueError(
            f"SandboxConfig.{attribute.name} must be a non-empty string without spaces around it "
            f"or ':', got {value!r}"
        )


def _seed(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"SandboxConfig.seed must be an integer, got {value!r}")


AUTHORIZE_MODES: Final = ("consent", "auto", "deny")


def _authorize_mode(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in AUTHORIZE_MODES:
        raise ValueError(
            f"SandboxConfig.authorize_mode must be one of {', '.join(AUTHORIZE_MODES)}, got {value!r}"
        )


def _redirect_uri(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ValueError(
            f"SandboxConfig.redirect_uri must be an absolute http(s) URL without a fragment, got {value!r}"
        )


def _host(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"SandboxConfig.host must be a host name or address, got {value!r}")


@attrs.frozen(slots=True, kw_only=True)
class SandboxConfig:
    """Everything the sandbox can be told. All rates are fractions of /api/v1 replies."""

    token_ttl: float = attrs.field(default=3600.0, validator=_number(0.001))
    rate: float = attrs.field(default=0.0, validator=_number())
    burst: int = attrs.field(default=0, validator=_integer())
    latency_ms: float = attrs.field(default=0.0, validator=_number())
    jitter_ms: float = attrs.field(default=0.0, validator=_number())
    fail_rate: float = attrs.field(default=0.0, validator=_fraction)
    drop_rate: float = attrs.field(default=0.0, validator=_fraction)
    malformed_rate: float = attrs.field(default=0.0, validator=_fraction)
    truncate_rate: float = attrs.field(default=0.0, validator=_fraction)
    max_bulk: int = attrs.field(default=100, validator=_integer(1))
    projects: int = attrs.field(default=150, validator=_integer())
    users: int = attrs.field(default=50, validator=_integer())
    seed: int = attrs.field(default=0, validator=_seed)
    client_id: str = attrs.field(default=DEFAULT_CLIENT_ID, validator=_text)
    client_secret: str = attrs.field(default=DEFAULT_CLIENT_SECRET, validator=_text, repr=False)
    host: str = attrs.field(default="127.0.0.1", validator=_host)
    port: int = attrs.field(default=0, validator=_integer(0, 65535))
    webhook_max_attempts: int = attrs.field(default=5, validator=_integer(1))
    webhook_backoff_base: float = attrs.field(default=0.5, validator=_number())
    webhook_timeout: float = attrs.field(default=5.0, validator=_number(0.001))
    redirect_uri: str = attrs.field(default=DEFAULT_REDIRECT_URI, validator=_redirect_uri)
    authorize_mode: str = attrs.field(default="consent", validator=_authorize_mode)
    authorize_user: int = attrs.field(default=1, validator=_integer(1))

    def __attrs_post_init__(self) -> None:
        total = self.fail_rate + self.drop_rate + self.malformed_rate + self.truncate_rate
        if total > 1.0 + 1e-9:
            raise ValueError(
                "SandboxConfig: fail_rate + drop_rate + malformed_rate + truncate_rate must not "
                f"exceed 1, got {total:g}"
            )

    @property
    def effective_burst(self) -> int:
        """The bucket capacity: `burst`, or `ceil(rate)` (at least 1) when only a rate is set."""
        if self.rate <= 0:
            return 0
        return self.burst if self.burst > 0 else max(1, math.ceil(self.rate))

    def public(self) -> dict[str, Any]:
        """The options as JSON (the client secret left out)."""
        data = attrs.asdict(self)
        data.pop("client_secret")
        return data


# Options `POST /_sandbox/config` may change while the server runs (not the data or the listener).
RUNTIME_OPTIONS: Final = frozenset(
    {
        "token_ttl",
        "rate",
        "burst",
        "latency_ms",
        "jitter_ms",
        "fail_rate",
        "drop_rate",
        "malformed_rate",
        "truncate_rate",
        "max_bulk",
        "webhook_max_attempts",
        "webhook_backoff_base",
        "webhook_timeout",
        "redirect_uri",
        "authorize_mode",
        "authorize_user",
    }
)

OPTION_NAMES: Final = tuple(a.name for a in attrs.fields(SandboxConfig))
