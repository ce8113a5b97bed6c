"""A hostile HTTP/1.1 server for the memory test, run as its own process (so its memory is not
the client's): `python -m tests.support.huge_server` prints its port and serves until its
stdin closes.

    /small           a small JSON reply (for warming up)
    /huge            500 MiB, chunked (no Content-Length): only counting while reading stops it
    /huge-declared   500 MiB with its Content-Length
    /bomb            256 MiB of zeros, gzip-encoded (about 1 MiB on the wire)

Nothing is materialised: the big bodies are one 1 MiB buffer written again and again, and a
client that stops reading stops the server at its next write.
"""

from __future__ import annotations

import asyncio
import sys
import zlib

HUGE = 500 * 1024 * 1024
BOMB_DECODED = 256 * 1024 * 1024
_PIECE = bytes(1024 * 1024)


def gzip_bomb(size: int = BOMB_DECODED) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [compressor.compress(_PIECE) for _ in range(size // len(_PIECE))]
    return b"".join([*parts, compressor.flush()])


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bomb: bytes) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            if path == "/huge":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                chunk = b"%x\r\n%s\r\n" % (len(_PIECE), _PIECE)
                for _ in range(HUGE // len(_PIECE)):
                    writer.write(chunk)
                    await writer.drain()
                writer.write(b"0\r\n\r\n")
            elif path == "/huge-declared":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % HUGE
                )
                for _ in range(HUGE // len(_PIECE)):
                    writer.write(_PIECE)
                    await writer.drain()
            elif path == "/bomb":
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(bomb), bomb)
                )
            else:
                small = b'{"ok": true}'
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(small), small)
                )
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main() -> None:
    bomb = gzip_bomb()
    server = await asyncio.start_server(lambda r, w: _serve(r, w, bomb), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    loop = asyncio.get_running_loop()
    # Serve until the test closes our stdin (or the process is killed).
    await loop.run_in_executor(None, sys.stdin.read)
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
