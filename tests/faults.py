"""Network faults on loopback for the fault tests: a port that accepts and never answers, and a
proxy to a real server that can be cut mid-transfer (as when the server process dies)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


class SilentPort:
    """A loopback port that accepts connections and never answers: every request times out.
    ``connections`` counts the connections made to it (one per attempt a client makes)."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.port = self._server.getsockname()[1]
        self.connections = 0
        self._held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            self._held.append(connection)

    def close(self) -> None:
        """Stop listening and drop every connection."""
        for sock in [self._server, *self._held]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@contextlib.contextmanager
def silent_port() -> Iterator[SilentPort]:
    """A :class:`SilentPort` for the duration of the block."""
    port = SilentPort()
    try:
        yield port
    finally:
        port.close()


class CuttableProxy:
    """A TCP proxy from a loopback port to ``upstream``. Once more than ``cut_after`` bytes went
    upstream (or :meth:`cut` is called) every connection is closed and the port refuses new
    ones, as when the server process dies in the middle of an upload."""

    def __init__(self, upstream: tuple[str, int], cut_after: int | None = None) -> None:
        self.upstream, self.cut_after = upstream, cut_after
        self.sent = 0
        self.is_cut = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.endpoint = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.is_cut.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, upstream: bool) -> None:
        try:
            while not self.is_cut.is_set():
                data = source.recv(65536)
                if not data:
                    break
                if upstream:
                    with self._lock:
                        self.sent += len(data)
                        over = self.cut_after is not None and self.sent > self.cut_after
                    if over:
                        self.cut()
                        return
                target.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                target.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        """Close every connection and refuse new ones."""
        self.is_cut.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the threads blocked on it and tells the peer
                with contextlib.suppress(OSError):
                    sock.close()
