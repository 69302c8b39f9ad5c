"""A TCP proxy that tests and the fault suite put between a service and PostgreSQL, RabbitMQ
or Telegram, to break the link the way a restart or a network fault does.

`cut()` drops every open connection at once (what clients see when a server restarts);
`down(seconds)` also refuses new connections for a while (a server that takes time to come
back); `hold()` stops forwarding in both directions without closing anything (a request sent,
its answer never arriving, until `release()`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_CHUNK = 64 * 1024


class FaultyLink:
    def __init__(self, target_host: str, target_port: int, *, listen_port: int = 0) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self._listen_port = listen_port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._refusing_until = 0.0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self.accepted = 0

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self._listen_port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()
        if self._pipes:
            await asyncio.gather(*self._pipes, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def cut(self) -> int:
        """Close every open connection, both sides; returns how many there were."""
        writers = list(self._writers)
        for writer in writers:
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()
        return len(writers) // 2

    def down(self, seconds: float) -> None:
        """Cut, and refuse new connections for `seconds`."""
        self._refusing_until = asyncio.get_running_loop().time() + seconds
        self.cut()

    def up(self) -> None:
        self._refusing_until = 0.0

    def hold(self) -> None:
        """Stop forwarding bytes (both ways) until `release()`; connections stay open."""
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if asyncio.get_running_loop().time() < self._refusing_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self.accepted += 1
        self._writers.update((writer, up_writer))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, (writer, up_writer)))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        pair: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await source.read(_CHUNK):
                await self._flowing.wait()
                sink.write(data)
                await sink.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for writer in pair:
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    writer.transport.abort()


@asynccontextmanager
async def faulty_link(target_host: str, target_port: int) -> AsyncIterator[FaultyLink]:
    link = FaultyLink(target_host, target_port)
    await link.start()
    try:
        yield link
    finally:
        await link.stop()
