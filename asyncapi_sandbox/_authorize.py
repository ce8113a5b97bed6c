"""GET/POST /oauth/authorize: the authorization endpoint (RFC 6749 section 4.1, RFC 7636).

The registered client may ask a user to grant it access. What the sandbox requires, as a
careful real server does:

- `client_id` known and `redirect_uri` registered (`SandboxConfig.redirect_uri`; for a loopback
  host any port matches, RFC 8252 section 7.3). Until both are checked an error is a 400 page:
  the browser is never sent to an unchecked URI. After that, errors go back to the client as
  `?error=...&state=...` (RFC 6749 section 4.1.2.1).
- `response_type=code`, and PKCE: a `code_challenge` with `code_challenge_method=S256`.
- No parameter repeated.

Then `authorize_mode` decides: `consent` shows a page where a person picks the user and
approves or denies (the page posts back here); `auto` approves at once for `login_hint` (a user
id or email) or `authorize_user`; `deny` answers `access_denied`. An approval redirects with a
one-time `code` valid `CODE_TTL` seconds, bound to the client, the `redirect_uri`, the user,
the scope and the challenge. The token endpoint redeems it (`redeem_code`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import time
from typing import Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from ._asgi import Headers, Receive, Scope, Send, read_body, reply
from ._errors import OAuthError
from ._state import State

CODE_TTL: Final = 60.0
CONSENT_TTL: Final = 600.0
# RFC 7636 section 4.1/4.2: 43 to 128 unreserved characters.
_PKCE_VALUE: Final = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_LOOPBACK: Final = frozenset({"127.0.0.1", "::1", "localhost"})


class AuthorizationCode:
    __slots__ = ("client_id", "redirect_uri", "user_id", "scope", "challenge", "expires_at", "grant_id")

    def __init__(
        self, client_id: str, redirect_uri: str, user_id: int, scope: str | None, challenge: str
    ) -> None:
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.user_id = user_id
        self.scope = scope
        self.challenge = challenge
        self.expires_at = time.monotonic() + CODE_TTL
        self.grant_id: int | None = None  # set when redeemed: a second use revokes the grant


class _BadRequest(Exception):
    """An authorize request that cannot be sent back to the client: a 400 page."""


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


async def serve_authorize(state: State, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
    headers.append((b"cache-control", b"no-store"))
    method = scope["method"]
    try:
        if method == "GET":
            params = _params(scope.get("query_string", b""))
            request = _check(state, params)
            await _decide(state, send, headers, request)
        elif method == "POST":
            form = _params(await read_body(receive))
            _consent_answer(state, form)
        else:
            headers.append((b"allow", b"GET, POST"))
            raise _BadRequest("the authorization endpoint takes GET (and POST from its consent page)")
    except _Redirect as redirect:
        headers.append((b"location", redirect.location.encode()))
        await reply(state, send, 302, b"", headers)
    except _BadRequest as exc:
        page = _page("Authorization request refused", f"<p>{html.escape(str(exc))}</p>")
        await reply(state, send, 400, page, headers, b"text/html; charset=utf-8")


def redeem_code(state: State, form: dict[str, str], client_id: str) -> AuthorizationCode:
    """The token endpoint's checks of `grant_type=authorization_code` (RFC 6749 section 4.1.3,
    RFC 7636 section 4.6). A code presented twice revokes what its first use issued."""
    code, redirect_uri, verifier = form.get("code"), form.get("redirect_uri"), form.get("code_verifier")
    if not code:
        raise OAuthError(400, "invalid_request", "code is required")
    if not redirect_uri:
        raise OAuthError(400, "invalid_request", "redirect_uri is required (it was in the authorize request)")
    if not verifier:
        raise OAuthError(400, "invalid_request", "code_verifier is required (PKCE)")
    if not _PKCE_VALUE.match(verifier):
        raise OAuthError(400, "invalid_request", "code_verifier must be 43 to 128 unreserved characters")
    record = state.codes.get(code)
    if record is None or record.expires_at <= time.monotonic() or record.client_id != client_id:
        raise OAuthError(400, "invalid_grant", "the code is invalid, expired or not this client's")
    if record.grant_id is not None:
        state.revoke_grant(record.grant_id)
        raise OAuthError(400, "invalid_grant", "the code was already used; the tokens it gave are revoked")
    if redirect_uri != record.redirect_uri:
        raise OAuthError(400, "invalid_grant", "redirect_uri is not the one of the authorize request")
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=")
    if not hmac.compare_digest(digest, record.challenge.encode("ascii")):
        raise OAuthError(400, "invalid_grant", "the code_verifier does not match the code_challenge")
    record.grant_id = state.new_grant_id()
    return record


# -- the request ---------------------------------------------------------------------------


def _params(raw: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise _BadRequest("the parameters cannot be parsed") from None


def _check(state: State, pairs: list[tuple[str, str]]) -> dict[str, str]:
    names = [name for name, _ in pairs]
    params = dict(pairs)
    config = state.config
    for name in ("client_id", "redirect_uri"):
        if names.count(name) > 1:
            raise _BadRequest(f"{name} is repeated")
    client_id = params.get("client_id")
    if not client_id or not hmac.compare_digest(client_id.encode(), config.client_id.encode()):
        raise _BadRequest("unknown client_id")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise _BadRequest("redirect_uri is required")
    if not redirect_matches(redirect_uri, config.redirect_uri):
        raise _BadRequest("redirect_uri is not registered for this client")
    state_param = params.get("state")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise _Redirect(
            _back(
                redirect_uri,
                state_param,
                error="invalid_request",
                error_description=f"{repeated[0]} is repeated",
            )
        )
    if params.get("response_type") != "code":
        raise _Redirect(_back(redirect_uri, state_param, error="unsupported_response_type"))
    challenge = params.get("code_challenge")
    if not challenge or params.get("code_challenge_method") != "S256":
        raise _Redirect(
            _back(
                redirect_uri,
                state_param,
                error="invalid_request",
                error_description="PKCE is required: code_challenge with code_challenge_method=S256",
            )
        )
    if not _PKCE_VALUE.match(challenge):
        raise _Redirect(
            _back(
                redirect_uri,
                state_param,
                error="invalid_request",
                error_description="malformed code_challenge",
            )
        )
    return params


def redirect_matches(given: str, registered: str) -> bool:
    """Exact match, except that for a loopback host the port may be any (RFC 8252 section 7.3)."""
    if given == registered:
        return True
    a, b = urlsplit(given), urlsplit(registered)
    return (
        a.scheme == b.scheme == "http"
        and a.hostname in _LOOPBACK
        and a.hostname == b.hostname
        and (a.path, a.query, a.fragment) == (b.path, b.query, b.fragment)
    )


def _back(redirect_uri: str, state_param: str | None, **fields: str | None) -> str:
    values = {k: v for k, v in fields.items() if v is not None}
    if state_param is not None:
        values["state"] = state_param
    return redirect_uri + ("&" if urlsplit(redirect_uri).query else "?") + urlencode(values)


# -- the decision --------------------------------------------------------------------------


async def _decide(state: State, send: Send, headers: Headers, params: dict[str, str]) -> None:
    mode = state.config.authorize_mode
    if mode == "deny":
        _deny(state, params)
    if mode == "auto":
        _approve(state, params, _user(state, params.get("login_hint") or str(state.config.authorize_user)))
    consent = secrets.token_urlsafe(16)
    state.consents[consent] = (time.monotonic() + CONSENT_TTL, params)
    scope = params.get("scope") or "(no scope)"
    body = (
        f"<p><b>{html.escape(params['client_id'])}</b> asks to act for you on the asyncapi sandbox "
        f"(scope: {html.escape(scope)}).</p>"
        '<form method="post" action="/oauth/authorize">'
        f'<input type="hidden" name="consent" value="{consent}">'
        f'<label>User id or email <input name="user" value="{state.config.authorize_user}"></label> '
        '<button name="decision" value="approve">Approve</button> '
        '<button name="decision" value="deny">Deny</button></form>'
    )
    await reply(state, send, 200, _page("Authorize access", body), headers, b"text/html; charset=utf-8")


def _consent_answer(state: State, pairs: list[tuple[str, str]]) -> None:
    form = dict(pairs)
    now = time.monotonic()
    for key in [k for k, (expires, _) in state.consents.items() if expires <= now]:
        del state.consents[key]
    found = state.consents.pop(form.get("consent", ""), None)  # one answer per page
    if found is None:
        raise _BadRequest("this consent page expired or was already answered; start the login again")
    params = found[1]
    if form.get("decision") != "approve":
        _deny(state, params)
    _approve(state, params, _user(state, form.get("user", "")))


def _user(state: State, hint: str) -> int:
    hint = hint.strip()
    if hint.isdigit() and int(hint) in state.users:
        return int(hint)
    for user in state.users.values():
        if user["email"].lower() == hint.lower():
            return int(user["id"])
    raise _BadRequest(f"no user {hint!r} in the sandbox")


def _approve(state: State, params: dict[str, str], user_id: int) -> None:
    now = time.monotonic()
    for key in [k for k, c in state.codes.items() if c.expires_at + CONSENT_TTL <= now]:
        del state.codes[key]  # kept a while past expiry, so that a replay is still recognised
    code = secrets.token_urlsafe(24)
    state.codes[code] = AuthorizationCode(
        params["client_id"],
        params["redirect_uri"],
        user_id,
        params.get("scope") or None,
        params["code_challenge"],
    )
    state.stats.authorizations["approved"] += 1
    raise _Redirect(_back(params["redirect_uri"], params.get("state"), code=code))


def _deny(state: State, params: dict[str, str]) -> None:
    state.stats.authorizations["denied"] += 1
    raise _Redirect(
        _back(
            params["redirect_uri"],
            params.get("state"),
            error="access_denied",
            error_description="the user denied access",
        )
    )


def _page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    ).encode()
