"""SDK exceptions cross a process boundary: raised in a `ProcessPoolExecutor` worker, they reach
the parent with their type, status, code, message, request id and fields, and without a secret,
even when the server quoted the token and the token sat in a client default header.

The peer is a bare ASGI app served by uvicorn that answers every call with an error quoting
the `Authorization` header it received, in the message, the details and `X-Request-Id`.
"""

from __future__ import annotations

import multiprocessing
import pickle
import secrets
import subprocess
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

import asyncapi_client as sdk
from asyncapi_client import Request, Response
from tests.support.hostile_servers import Receive, Scope, Send, header, reply, serving
from tests.support.pickle_worker import failing_call

TOKEN = "tok-" + secrets.token_urlsafe(20)


async def quoting_server(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    authorization = header(scope, "authorization") or ""
    status = int(scope["path"].rsplit("/", 1)[1])
    envelope = {
        "error": {
            "code": "UPSTREAM",
            "message": f"cannot serve {authorization}",
            "details": {"authorization": authorization, "retry": True},
        }
    }
    await reply(send, status, envelope, {"x-request-id": "req-42", "retry-after": "7"})


@pytest.mark.parametrize(
    ("path", "error", "status"),
    [
        ("/fail/500", sdk.InternalServerError, 500),
        ("/fail/429", sdk.RateLimitError, 429),
        ("/fail/418", sdk.APIStatusError, 418),
    ],
)
def test_an_error_raised_in_a_worker_process_reaches_the_parent_whole_and_without_the_token(
    path: str, error: type[sdk.APIStatusError], status: int
) -> None:
    context = multiprocessing.get_context("spawn")  # no fork of this process's server thread
    with serving(quoting_server) as url, ProcessPoolExecutor(1, mp_context=context) as pool:
        future = pool.submit(failing_call, url, TOKEN, path)
        with pytest.raises(sdk.APIError) as info:
            future.result(timeout=120)
    exc = info.value
    assert type(exc) is error
    assert isinstance(exc, sdk.APIStatusError)
    assert (exc.status_code, exc.code, exc.request_id) == (status, "UPSTREAM", "req-42")
    assert exc.message == "cannot serve Bearer ***"
    assert exc.details == {"authorization": "Bearer ***", "retry": True}
    assert exc.response is None  # the wire objects stay in the worker
    if isinstance(exc, sdk.RateLimitError):
        assert exc.retry_after == 7.0
    remote = "".join(traceback.format_exception(exc))  # includes the worker's traceback text
    for text in (str(exc), repr(exc), remote, repr(pickle.dumps(exc))):
        assert TOKEN not in text


def _request() -> Request:
    return Request(
        "GET", f"https://api.example.com/x?access_token={TOKEN}", {"authorization": f"Bearer {TOKEN}"}
    )


def _every_error() -> list[sdk.APIError]:
    request = _request()
    response = Response(503, {"x-request-id": "r-1"}, f'{{"token": "{TOKEN}"}}'.encode(), request)
    status: dict[str, Any] = dict(code="C", details={"echo": TOKEN}, request_id="r-1", response=response)
    from asyncapi_client import InvalidItemError

    return [
        sdk.APIError("plain"),
        sdk.APIConnectionError(f"refused while sending Bearer {TOKEN}", request=request, request_sent=False),
        sdk.APITimeoutError("slow", request=request, request_sent=None),
        sdk.BadRequestError("bad", status_code=400, **status),
        sdk.AuthenticationError("who", status_code=401, **status),
        sdk.NotFoundError("gone", status_code=404, **status),
        sdk.RateLimitError("slow down", status_code=429, retry_after=2.5, **status),
        sdk.InternalServerError("boom", status_code=503, **status),
        sdk.ResponseDecodeError.from_response(response, "not a project"),
        sdk.OAuthError("invalid_client", "nope", status_code=401, response=response),
        sdk.ClientClosedError("closed"),
        sdk.WebhookVerificationError("bad signature", reason="no_matching_signature"),
        sdk.PaginationError("stuck", page=4, reason="repeated_page"),
        InvalidItemError("bulk record 3: 'name' is missing", index=3, field="name"),
    ]


@pytest.mark.parametrize("exc", _every_error(), ids=lambda e: type(e).__name__)
def test_every_sdk_exception_pickles_with_its_fields_and_without_a_secret(exc: sdk.APIError) -> None:
    exc.page = 9
    data = pickle.dumps(exc)
    assert TOKEN.encode() not in data
    copy = pickle.loads(data)
    assert type(copy) is type(exc)
    assert str(copy) == str(exc).replace(TOKEN, "***")
    for name, value in vars(exc).items():
        if name in ("response", "request"):
            assert getattr(copy, name) is None
        elif isinstance(value, (int, float, bool)) or value is None:
            assert getattr(copy, name) == value, name
    assert copy.page == 9


def test_with_tblibs_pickler_installed_as_dask_does_the_chain_carries_no_body() -> None:
    """Dask installs tblib's pickler in every worker: it pickles an exception's `__context__`
    and `__cause__` along with it. A decode error is raised outside the parser's handler, so the
    parser's error (a JSONDecodeError holds the whole body, echoed token included) is not in its
    chain. Run in a subprocess: tblib's install() changes pickling for the whole process."""
    pytest.importorskip("tblib")
    code = f"""
import pickle
from tblib import pickling_support
pickling_support.install()
from asyncapi_client import Project, Request, Response, ResponseDecodeError
from asyncapi_client._decode import decode_model, decode_page
request = Request("GET", "https://api.example.com/p", {{"authorization": "Bearer {TOKEN}"}})
bodies = [b"<html>rejected Bearer {TOKEN}</html>", b'{{"id": "{TOKEN}"}}', b'{{"data": 1, "x": "{TOKEN}"}}']
for body in bodies:
    for decode in (decode_model, decode_page):
        try:
            decode(Response(200, {{}}, body, request), Project)
        except ResponseDecodeError as exc:
            assert exc.__context__ is None and exc.__cause__ is None, repr(exc.__context__)
            data = pickle.dumps(exc)
            assert b"{TOKEN}" not in data, data
            assert type(pickle.loads(data)) is ResponseDecodeError
        else:
            raise AssertionError("decoded")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
