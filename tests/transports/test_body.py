"""`BodyReader`, the body every transport reads through: content codings decoded in any chunking,
the size limit on the wire and after decoding, and bombs stopped with memory near the limit
(tracemalloc's peak: the decompressors' output is Python bytes).
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import brotli
import pytest
import zstandard

from asyncapi_client import Request, ResponseDecodeError, ResponseTooLargeError
from asyncapi_client.transports._body import BodyReader
from tests.support.conformance_server import ENCODED_JSON, encode

REQUEST = Request("GET", "https://api.example.com/api/v1/projects", timeout=5.0)
MiB = 1024 * 1024


def read(body: bytes, headers: dict[str, str], *, limit: int | None = 10 * MiB, chunk: int = 4096) -> bytes:
    reader = BodyReader(REQUEST, 200, headers, limit)
    for start in range(0, len(body), chunk):
        reader.feed(body[start : start + chunk])
    return reader.finish()


@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate", "raw-deflate", "br", "zstd", "gzip-br"])
@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_every_coding_in_any_chunking(coding: str, chunk: int) -> None:
    header = {"raw-deflate": "deflate", "gzip-br": "gzip, br"}.get(coding, coding)
    body = encode(coding, ENCODED_JSON)
    assert read(body, {"content-encoding": header}, chunk=chunk) == ENCODED_JSON


def test_identity_and_plain_bodies_pass_through() -> None:
    assert read(b"abc", {"content-encoding": "identity"}) == b"abc"
    assert read(b"abc", {}) == b"abc"
    assert read(b"", {"content-encoding": "gzip"}) == b""  # a 204 or a HEAD says gzip too
    reader = BodyReader(REQUEST, 200, {"content-length": "3"}, 10)
    assert reader.whole
    assert not BodyReader(REQUEST, 200, {"content-length": "3", "content-encoding": "gzip"}, 10).whole
    assert not BodyReader(REQUEST, 200, {}, 10).whole  # chunked: must be counted


def test_content_length_over_the_limit_is_refused_before_reading() -> None:
    with pytest.raises(ResponseTooLargeError) as info:
        BodyReader(REQUEST, 200, {"content-length": str(10 * MiB + 1)}, 10 * MiB)
    error = info.value
    assert (error.status_code, error.limit, error.request) == (200, 10 * MiB, REQUEST)
    assert "Content-Length is 10,485,761 bytes" in str(error)
    BodyReader(REQUEST, 200, {"content-length": "junk"}, 10)  # the HTTP library's to refuse
    BodyReader(REQUEST, 200, {"content-length": str(10**12)}, None)  # no limit


def test_counting_while_reading_stops_at_the_limit() -> None:
    reader = BodyReader(REQUEST, 200, {}, 100)
    reader.feed(b"x" * 60)
    with pytest.raises(ResponseTooLargeError, match="100 bytes"):
        reader.feed(b"x" * 41)


@pytest.mark.parametrize("coding", ["compress", "x-foo", "gzip, snappy"])
def test_unknown_codings_are_decode_errors(coding: str) -> None:
    with pytest.raises(ResponseDecodeError, match="is not one this client decodes") as info:
        BodyReader(REQUEST, 200, {"content-encoding": coding}, None)
    assert not isinstance(info.value, ResponseTooLargeError)
    assert info.value.status_code == 200


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", b"\x1f\x8b\x08\x00garbage garbage garbage"),
        ("deflate", b"\x00\x01\x02\x03 not deflate"),
        ("br", b"\xff\xff\xff\xff not brotli"),
        ("zstd", b"\x28\xb5\x2f\xfd\xff\xff not zstd"),
    ],
)
def test_corrupt_data_is_a_decode_error(coding: str, body: bytes) -> None:
    with pytest.raises(ResponseDecodeError, match=f"its {coding} data (is corrupt|ends early)"):
        read(body, {"content-encoding": coding})


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "zstd"])
def test_a_truncated_coded_body_is_a_decode_error(coding: str) -> None:
    body = encode(coding, ENCODED_JSON)
    with pytest.raises(ResponseDecodeError, match=f"its {coding} data ends early"):
        read(body[: len(body) // 2], {"content-encoding": coding})


def _zeros(coding: str, size: int) -> bytes:
    if coding == "gzip":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        return b"".join([*(compressor.compress(bytes(MiB)) for _ in range(size // MiB)), compressor.flush()])
    if coding == "br":
        return bytes(brotli.compress(bytes(size), quality=5))
    return bytes(zstandard.ZstdCompressor(level=3).compress(bytes(size)))


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_a_bomb_is_stopped_at_the_limit_with_memory_near_it(coding: str) -> None:
    """64 MiB of zeros in well under a megabyte, against a 4 MiB limit: the reader stops at the
    limit, and the most memory it held at once stays within the limit plus a few pieces."""
    bomb = _zeros(coding, 64 * MiB)
    assert len(bomb) < MiB
    limit = 4 * MiB
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        with pytest.raises(ResponseTooLargeError, match="decodes to more"):
            read(bomb, {"content-encoding": coding}, limit=limit, chunk=64 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= limit + 10 * MiB, f"{coding}: peak {peak / MiB:.1f} MiB for a {limit / MiB:.0f} MiB limit"


def test_a_chain_is_undone_from_the_last_coding() -> None:
    body = brotli.compress(gzip.compress(b"hello"))
    assert read(bytes(body), {"content-encoding": "gzip, br"}) == b"hello"
    with pytest.raises(ResponseDecodeError):
        read(bytes(body), {"content-encoding": "br, gzip"})


def test_response_headers_lower_case_names_and_join_repeats() -> None:
    from multidict import CIMultiDict, CIMultiDictProxy, istr

    from asyncapi_client.transports._body import response_headers

    raw = CIMultiDictProxy(CIMultiDict([(istr("Content-Type"), "application/json"), ("X-Request-ID", "r-1")]))
    assert response_headers(raw) == {"content-type": "application/json", "x-request-id": "r-1"}
    repeated = CIMultiDictProxy(
        CIMultiDict([("Set-Cookie", "a=1"), ("Vary", "Accept"), ("set-cookie", "b=2")])
    )
    assert response_headers(repeated) == {"set-cookie": "a=1, b=2", "vary": "Accept"}


def test_response_headers_remember_a_bounded_number_of_names() -> None:
    """Names a server makes up on every response are lowered each time, not kept without end."""
    from multidict import CIMultiDict, CIMultiDictProxy

    from asyncapi_client.transports import _body

    names = [f"X-Made-Up-{i}" for i in range(3 * _body._MAX_NAMES)]
    for start in range(0, len(names), 50):
        part = names[start : start + 50]
        raw = CIMultiDictProxy(CIMultiDict([(name, "v") for name in part]))
        assert _body.response_headers(raw) == {name.lower(): "v" for name in part}
    remembered: dict[str, str] = _body._lower_name.__self__  # type: ignore[attr-defined]
    assert len(remembered) <= _body._MAX_NAMES
