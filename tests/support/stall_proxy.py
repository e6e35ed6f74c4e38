"""A TCP proxy in front of the MongoDB test server that plays a server which never stops a
command: slowness injected on the wire, never sent to the emulator as a slow query.

nx-27017 ignores ``maxTimeMS`` and runs ``$regex`` with Python's ``re``, so a truly slow
filter would hang the shared test server. Instead, a wire message holding ``MARKER`` (put it
in a filter: ``name:~stall-here``) is held by the proxy:

- ``mode="command"``: that request is never forwarded, so its reply never comes (a server
  still working on it); every other connection, the driver's monitors included, goes on.
- ``mode="server"``: from then on no reply reaches the client on any connection, heartbeats
  included (a server too busy to answer anything, as the single-threaded emulator is while it
  runs a long query); the driver's monitor gives the server up and interrupts the read.

``release()`` lets the held traffic through again. The proxy runs on its own thread and event
loop, so synchronous CLI tests and async tests use it alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

#: Bytes that make the proxy hold a request (ASCII, as it appears in the BSON of a filter).
MARKER = b"stall-here"


class StallProxy:
    """``uri`` leads to the server behind ``upstream`` through the proxy."""

    def __init__(self, upstream: str, mode: str = "command") -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 27017
        self.path = parts.path or "/"
        self.mode = mode
        self.held = threading.Event()  # set once a marked request arrived
        self._loop = asyncio.new_event_loop()
        self._open = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._serve, "127.0.0.1", 0), self._loop
        ).result()
        self.listen_port = self._server.sockets[0].getsockname()[1]
        self._loop.call_soon_threadsafe(self._open.set)

    @property
    def uri(self) -> str:
        """The server's URI through the proxy (``directConnection``: one host, no discovery)."""
        return f"mongodb://127.0.0.1:{self.listen_port}{self.path}?directConnection=true"

    def release(self) -> None:
        """Let held traffic through from now on (mode ``server``)."""
        self._loop.call_soon_threadsafe(self._open.set)

    def close(self) -> None:
        """Stop the proxy and its thread."""

        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            self._open.set()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            writer.close()
            return
        pumps = [
            asyncio.ensure_future(self._requests(reader, up_writer)),
            asyncio.ensure_future(self._replies(up_reader, writer)),
        ]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()

    async def _requests(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Client to server, one wire message at a time (its first 4 bytes: the length)."""
        while True:
            header = await reader.readexactly(4)
            body = await reader.readexactly(int.from_bytes(header, "little") - 4)
            if MARKER in body:
                self.held.set()
                if self.mode == "server":
                    self._open.clear()
                else:
                    await asyncio.Event().wait()  # never forwarded: its reply never comes
            writer.write(header + body)
            await writer.drain()

    async def _replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Server to client, held while the proxy plays a busy server."""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            await self._open.wait()
            writer.write(chunk)
            await writer.drain()


@contextlib.contextmanager
def stall_proxy(upstream: str, mode: str = "command") -> Iterator[StallProxy]:
    """A :class:`StallProxy` for the duration of a ``with`` block."""
    proxy = StallProxy(upstream, mode)
    try:
        yield proxy
    finally:
        proxy.close()
