"""A transparent TCP proxy in front of a server that counts network round trips (the tests), or stands in
for a network with a delay (the benchmark's end-to-end figures).

A round trip is the client sending and then waiting for the server: the proxy
counts each time the traffic turns from server-to-client (or silence) to
client-to-server. libpq writes a pipeline's messages in one go, so queries
sent together count once. ``delay`` holds every chunk that long in each
direction, to stand in for a network between the two.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlparse


class CountingProxy:
    def __init__(self, backend: tuple, delay: float = 0.0) -> None:
        self.backend, self.delay = backend, delay
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._lock = threading.Lock()
        self._last = "s2c"
        self.round_trips = 0
        self._closing = False
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self) -> None:
        with self._lock:
            self.round_trips, self._last = 0, "s2c"

    def _connect_backend(self) -> socket.socket:
        family, address = self.backend
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.connect(address)
        return sock

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            server = self._connect_backend()
            threading.Thread(target=self._pump, args=(client, server, "c2s"), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, "s2c"), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str) -> None:
        # With a delay, chunks wait in a queue until their own deadline: like packets on a wire, a burst
        # arrives `delay` later as a whole, not `delay` per chunk.
        outbox: queue.Queue[tuple[float, bytes] | None] | None = None
        if self.delay:
            outbox = queue.Queue()
            threading.Thread(target=self._deliver, args=(outbox, sink), daemon=True).start()
        try:
            while chunk := source.recv(65536):
                with self._lock:
                    if direction == "c2s" and self._last == "s2c":
                        self.round_trips += 1
                    self._last = direction
                if outbox is not None:
                    outbox.put((time.perf_counter() + self.delay, chunk))
                else:
                    sink.sendall(chunk)
        except OSError:
            pass
        finally:
            if outbox is not None:
                outbox.put(None)
            else:
                self._shut(source, sink)

    def _deliver(self, outbox: queue.Queue[tuple[float, bytes] | None], sink: socket.socket) -> None:
        try:
            while (item := outbox.get()) is not None:
                deadline, chunk = item
                while (left := deadline - time.perf_counter()) > 0:
                    time.sleep(left if left > 0.0002 else 0)  # the last fraction spun: sleep() overshoots
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            self._shut(sink)

    @staticmethod
    def _shut(*socks: socket.socket) -> None:
        for sock in socks:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self._closing = True
        self.listener.close()


@contextmanager
def counting_proxy(url: str, delay: float = 0.0) -> Iterator[tuple[CountingProxy, str]]:
    """A proxy in front of the server ``url`` points at; yields it and the same URL through it."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or "127.0.0.1"])[0]
    port = int(query.get("port", [parsed.port or 5432])[0])
    backend = (socket.AF_UNIX, f"{host}/.s.PGSQL.{port}") if host.startswith("/") else (socket.AF_INET, (host, port))
    proxy = CountingProxy(backend, delay)
    auth = parsed.netloc.rsplit("@", 1)[0]
    try:
        yield proxy, f"postgresql://{auth}@127.0.0.1:{proxy.port}{parsed.path}?sslmode=disable"
    finally:
        proxy.close()
