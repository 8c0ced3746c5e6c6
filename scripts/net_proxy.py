"""A TCP proxy on 127.0.0.1 that makes a link slow, lossy or absent: the cloud path of a phone.

    python scripts/net_proxy.py --target 127.0.0.1:8080 --rtt-ms 80 --loss 0.02

then point the app at the printed address (e.g. `emotion-chat --emulator 127.0.0.1:PORT`). What it
models, and what it does not:
- a round trip of `rtt_ms`: every chunk waits rtt/2 on its way in each direction, in order, and a
  new connection waits one round trip first (the TCP handshake);
- loss: a chunk is "lost" with probability `loss` and arrives one retransmission timeout later
  (`rto_ms`, Linux's minimum is 200 ms); the bytes behind it wait too (TCP's head-of-line blocking).
  Bytes are never dropped: over TCP, loss shows up as delay, which is what the app meets;
- offline: `online = False` closes every connection and refuses new ones until it is set back.
It is a simulation on loopback (no bandwidth limit, no radio wake-up cost); say so beside figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import threading
import time


class NetProxy:
    def __init__(self, target: str, *, rtt_ms: float = 0.0, loss: float = 0.0, rto_ms: float = 200.0,
                 seed: int = 0, listen_port: int = 0) -> None:
        host, _, port = target.rpartition(":")
        self.target_host, self.target_port = host or "127.0.0.1", int(port)
        self.rtt_ms, self.loss, self.rto_ms = rtt_ms, loss, rto_ms
        self.listen_port = listen_port
        self.port = 0
        self.connections = 0  # accepted while online: tests assert a mode made none
        self.bytes_up = 0     # client → target
        self._online = True
        self._random = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def online(self) -> bool:
        return self._online

    @online.setter
    def online(self, value: bool) -> None:
        self._online = value
        if not value and self._loop is not None:
            self._loop.call_soon_threadsafe(self._drop_all)

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def start(self) -> NetProxy:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            server = self._loop.run_until_complete(
                asyncio.start_server(self._serve, "127.0.0.1", self.listen_port))
            self.port = server.sockets[0].getsockname()[1]
            self._server = server
            started.set()
            self._loop.run_forever()
            server.close()
            pending = asyncio.all_tasks(self._loop)  # connections still open: end them quietly
            for task in pending:
                task.cancel()
            if pending:
                self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self._loop.run_until_complete(server.wait_closed())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="net-proxy", daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._drop_all)
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> NetProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._online:
            writer.transport.abort()
            return
        self.connections += 1
        await asyncio.sleep(self.rtt_ms / 1000)  # the handshake's round trip
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        with contextlib.suppress(asyncio.CancelledError):  # stop(): ends as a normal close
            await asyncio.gather(self._pipe(reader, up_writer, upstream=True),
                                 self._pipe(up_reader, writer, upstream=False), return_exceptions=True)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                    return
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                writer.write(data)
                await writer.drain()

        sender = asyncio.ensure_future(deliver())
        last_due = 0.0
        try:
            while True:
                data = await reader.read(65536)
                if upstream:
                    self.bytes_up += len(data)
                delay = self.rtt_ms / 2000
                if data and self.loss and self._random.random() < self.loss:
                    delay += self.rto_ms / 1000
                last_due = max(last_due, time.monotonic() + delay)  # in order, as TCP delivers
                queue.put_nowait((last_due, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True, metavar="HOST:PORT",
                   help="where to forward (e.g. 127.0.0.1:8080)")
    p.add_argument("--port", type=int, default=0,
                   help="port to listen on, on 127.0.0.1 (default: a free one)")
    p.add_argument("--rtt-ms", type=float, default=80.0, help="added round trip in ms (default 80)")
    p.add_argument("--loss", type=float, default=0.0, help="fraction of chunks delayed by one RTO (0..1)")
    p.add_argument("--rto-ms", type=float, default=200.0, help="retransmission timeout in ms (default 200)")
    args = p.parse_args(argv)
    proxy = NetProxy(args.target, rtt_ms=args.rtt_ms, loss=args.loss, rto_ms=args.rto_ms,
                     listen_port=args.port).start()
    print(f"{proxy.address} -> {args.target}: +{args.rtt_ms:g} ms round trip, "
          f"loss {args.loss:g}; Ctrl-C stops", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
