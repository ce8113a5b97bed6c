"""A response body as every transport reads it: `Content-Encoding` decoded, its size capped.

Every transport advertises `ACCEPT_ENCODING` (gzip and deflate from the standard library's zlib;
br and zstd when `brotli` / `zstandard` are installed: the extras `brotli` and `zstd`) unless the
caller set `Accept-Encoding` itself, and decodes whatever comes back, whoever asked for it.

`max_response_bytes` caps the body: a `Content-Length` over it is refused before a byte of the
body is read, and while reading, both the bytes on the wire and the decoded bytes are counted,
so a small gzip bomb is stopped at the limit. Decompressors are fed so that one step produces at
most about `_PIECE` bytes (zlib's and brotli's output limits; small input slices for zstd, whose
own API has none), so memory stays near the limit, never a multiple of it. Past the limit the
reader raises `ResponseTooLargeError` and the transport closes the connection (the rest of the
body is never read). An encoding the SDK cannot decode, or corrupt compressed data, is a
`ResponseDecodeError`, not a connection error: retrying would get the same bytes.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import zlib
from collections.abc import Iterator, Mapping
from typing import Any, Final

from .._errors import ResponseDecodeError, ResponseTooLargeError
from .._types import Request
from ._base import merge_headers

# A list page of 100 records is tens of kilobytes; 32 MiB is a thousand times the largest reply
# this API sends, and small enough that a runaway body cannot take a worker's memory.
DEFAULT_MAX_RESPONSE_BYTES: Final = 32 * 1024 * 1024

_PIECE: Final = 1024 * 1024  # at most about this much decoded output per decompression step
# zstd's largest ratio is a 4-byte RLE block standing for 128 KiB: 256 input bytes -> <= 8 MiB.
_ZSTD_SLICE: Final = 256
_ZSTD_MAX_WINDOW: Final = 8 * 1024 * 1024  # RFC 9659: HTTP's zstd window is at most 8 MB
_NO_LIMIT: Final = sys.maxsize


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


_HAS_BROTLI: Final = _installed("brotli")
_HAS_ZSTD: Final = _installed("zstandard")
ACCEPT_ENCODING: Final = ", ".join(
    ["gzip", "deflate"] + (["br"] if _HAS_BROTLI else []) + (["zstd"] if _HAS_ZSTD else [])
)


class _Decoder:
    """One content coding: `decode(data)` and `flush()` yield output in bounded pieces;
    `complete()` says whether the coded stream ended (a truncated one is corrupt)."""

    name = ""

    def decode(self, data: bytes) -> Iterator[bytes]:  # pragma: no cover - overridden
        raise NotImplementedError

    def flush(self) -> Iterator[bytes]:
        return iter(())

    def complete(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError


class _Zlib(_Decoder):
    def __init__(self, name: str, wbits: int) -> None:
        self.name = name
        self._zlib = zlib.decompressobj(wbits)
        # "deflate" is zlib-wrapped by the RFC and raw deflate from many servers: the first two
        # bytes (a zlib header or not) decide, so they are held until both have arrived.
        self._head: bytes | None = b"" if name == "deflate" else None

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._head is not None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return
            self._head = None
            if not _zlib_header(data):
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
        decompressor = self._zlib
        while data:
            yield decompressor.decompress(data, _PIECE)
            data = decompressor.unconsumed_tail

    def flush(self) -> Iterator[bytes]:
        if self._head:  # one byte in all: not a zlib stream
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
            head, self._head = self._head, None
            yield from self.decode(head)
        yield self._zlib.flush()

    def complete(self) -> bool:
        return bool(self._zlib.eof)


def _zlib_header(data: bytes) -> bool:
    """Do these bytes open a zlib stream (RFC 1950: method 8, header a multiple of 31)?"""
    return data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0


class _Brotli(_Decoder):
    name = "br"

    def __init__(self) -> None:
        self._brotli = importlib.import_module("brotli").Decompressor()
        if not hasattr(self._brotli, "can_accept_more_data"):  # brotli < 1.2: no output limit
            raise ImportError("decoding br within max_response_bytes needs brotli >= 1.2")

    def decode(self, data: bytes) -> Iterator[bytes]:
        decompressor = self._brotli
        yield decompressor.process(data, output_buffer_limit=_PIECE)
        while not decompressor.can_accept_more_data() and not decompressor.is_finished():
            yield decompressor.process(b"", output_buffer_limit=_PIECE)

    def complete(self) -> bool:
        return bool(self._brotli.is_finished())


class _Zstd(_Decoder):
    name = "zstd"

    def __init__(self) -> None:
        zstandard = importlib.import_module("zstandard")
        self._zstd = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW).decompressobj()

    def decode(self, data: bytes) -> Iterator[bytes]:
        view = memoryview(data)
        for start in range(0, len(view), _ZSTD_SLICE):
            yield self._zstd.decompress(view[start : start + _ZSTD_SLICE])

    def complete(self) -> bool:
        return bool(self._zstd.eof)


def _decoder(name: str) -> _Decoder | None:
    if name in ("gzip", "x-gzip"):
        return _Zlib("gzip", 16 + zlib.MAX_WBITS)
    if name == "deflate":
        return _Zlib("deflate", zlib.MAX_WBITS)
    if name == "br" and _HAS_BROTLI:
        return _Brotli()
    if name == "zstd" and _HAS_ZSTD:
        return _Zstd()
    return None


def _decode_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = [zlib.error]
    for module, attribute in (("brotli", "error"), ("zstandard", "ZstdError")):
        loaded: Any = sys.modules.get(module)
        if loaded is not None:
            errors.append(getattr(loaded, attribute))
    return tuple(errors)


class _LowerNames(dict[str, str]):
    """Header names as received -> lower-cased: a name a server sends again (every response
    carries the same few) is lowered once, and its lower-case form comes with its hash already
    computed. Holds at most `_MAX_NAMES`, so a server that makes up names cannot grow it."""

    __slots__ = ()

    def __missing__(self, name: str) -> str:
        lower = name.lower()
        if len(self) < _MAX_NAMES:
            self[name] = lower
        return lower


_MAX_NAMES: Final = 512
_lower_name: Final = _LowerNames().__getitem__


def response_headers(raw: Any) -> dict[str, str]:
    """A library's response headers (a multidict: `keys()`, `values()` and `items()` in the
    order received, `len()` counting repeats) as the SDK keeps them: names lower-cased, a
    repeated header's values joined with ", " (as httpx's `Headers` reads them). Built in C (no
    comprehension frame, no name lowered twice) in the usual case of no repeated name, which a
    length check tells."""
    # With a repeated name, `keys()` lists it once (multidict 7) or every time (earlier), so the
    # pairs may not line up: either way the dict comes out shorter than `raw`, and the merge,
    # reading `items()`, gives the headers.
    headers = dict(zip(map(_lower_name, raw.keys()), raw.values(), strict=False))
    return headers if len(headers) == len(raw) else merge_headers(raw.items())


def plain_within(headers: Mapping[str, str], limit: int | None) -> bool:
    """Whether a body needs neither decoding nor counting: no `Content-Encoding`, and a
    `Content-Length` within `limit`. Such a body may be read in one call of the library, without
    a `BodyReader` (which refuses the rest: an unknown coding, a declared length over the limit)."""
    if "content-encoding" in headers:
        return False
    length = headers.get("content-length")
    if length is None or not length.isdigit() or not length.isascii():
        return False
    return limit is None or int(length) <= limit


class BodyReader:
    """Collects one response body: `feed(chunk)` as it arrives, then `finish()` for the bytes.

    Built from the status and the (lower-cased) headers, before the body is read: that is where
    an over-limit `Content-Length` and an unknown `Content-Encoding` are refused. `whole` is True
    when the body needs neither decoding nor counting (its declared length is within the limit),
    so a transport may read it in one call of its library.
    """

    __slots__ = ("_chunks", "_decoders", "_limit", "_raw", "_request", "_size", "_status", "whole")

    def __init__(self, request: Request, status: int, headers: Mapping[str, str], limit: int | None) -> None:
        self._request = request
        self._status = status
        self._limit = _NO_LIMIT if limit is None else limit
        self._chunks: list[bytes] = []
        self._size = 0  # bytes of (decoded) body collected
        self._raw = 0  # bytes read from the wire, when decoding
        self._decoders: list[_Decoder] | None = None
        encoding = headers.get("content-encoding")
        if encoding is not None:
            self._decoders = self._decoders_for(encoding)
        length = headers.get("content-length")
        declared = _declared_length(length) if length is not None else None
        if declared is not None and declared > self._limit:
            raise self._too_large(f"its Content-Length is {declared:,} bytes")
        self.whole = declared is not None and self._decoders is None

    def _decoders_for(self, encoding: str) -> list[_Decoder] | None:
        decoders: list[_Decoder] = []
        # Codings are listed in the order they were applied: undo them from the last.
        for token in reversed(encoding.split(",")):
            name = token.strip().lower()
            if name in ("", "identity"):
                continue
            try:
                decoder = _decoder(name)
            except ImportError as exc:
                raise self._undecodable(
                    f"its Content-Encoding {name!r} cannot be decoded here: {exc}"
                ) from exc
            if decoder is None:
                raise self._undecodable(
                    f"its Content-Encoding {name!r} is not one this client decodes ({ACCEPT_ENCODING}"
                    + ("; 'br' needs the brotli extra" if name == "br" else "")
                    + ("; 'zstd' needs the zstd extra" if name == "zstd" else "")
                    + ")"
                )
            decoders.append(decoder)
        return decoders or None

    def feed(self, data: bytes) -> None:
        if self._decoders is None:
            size = self._size + len(data)
            if size > self._limit:
                raise self._too_large(f"{size:,} bytes were read before it ended")
            self._size = size
            self._chunks.append(data)
            return
        self._raw += len(data)
        if self._raw > self._limit:
            raise self._too_large(f"{self._raw:,} bytes were read before it ended")
        self._run(data, self._decoders, 0)

    def _run(self, data: bytes, decoders: list[_Decoder], stage: int) -> None:
        decoder = decoders[stage]
        try:
            for piece in decoder.decode(data):
                if piece:
                    self._emit(piece, decoders, stage)
        except _decode_errors() as exc:
            raise self._undecodable(f"its {decoder.name} data is corrupt ({exc})") from exc

    def _emit(self, piece: bytes, decoders: list[_Decoder], stage: int) -> None:
        if stage + 1 < len(decoders):
            self._run(piece, decoders, stage + 1)
            return
        size = self._size + len(piece)
        if size > self._limit:
            raise self._too_large(f"it decodes to more than that ({self._raw:,} bytes read)")
        self._size = size
        self._chunks.append(piece)

    def finish(self) -> bytes:
        decoders = self._decoders
        if decoders is not None and self._raw:
            for stage, decoder in enumerate(decoders):
                try:
                    pieces = list(decoder.flush())
                except _decode_errors() as exc:
                    raise self._undecodable(f"its {decoder.name} data is corrupt ({exc})") from exc
                for piece in pieces:
                    if piece:
                        self._emit(piece, decoders, stage)
                if not decoder.complete():
                    raise self._undecodable(f"its {decoder.name} data ends early (truncated)")
        chunks = self._chunks
        if len(chunks) == 1:
            return chunks[0]
        return b"".join(chunks)

    def _too_large(self, detail: str) -> ResponseTooLargeError:
        request = self._request
        return ResponseTooLargeError(
            f"the {self._status} reply to {request.method} {request.url} is over "
            f"max_response_bytes ({self._limit:,} bytes): {detail}",
            status_code=self._status,
            limit=self._limit,
            request=request,
        )

    def _undecodable(self, detail: str) -> ResponseDecodeError:
        request = self._request
        return ResponseDecodeError(
            f"Could not decode the {self._status} reply to {request.method} {request.url}: {detail}",
            status_code=self._status,
        )


def _declared_length(value: str) -> int | None:
    # A malformed Content-Length is the HTTP library's to refuse; here it only cannot be used.
    try:
        return int(value)
    except ValueError:
        return None
