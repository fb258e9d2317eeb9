"""A TCP forwarder between the warehouse and PostgreSQL that can cut every connection and
refuse new ones, as a failover or a server restart does, without touching the server."""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int):
        self._target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._accepting = True
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, *, refuse_new: bool = False) -> None:
        """Close every open connection; with `refuse_new`, close new ones at once too."""
        with self._lock:
            self._accepting = not refuse_new
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()

    def close(self) -> None:
        self.cut(refuse_new=True)
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._lock:
                if not self._accepting:
                    client.close()
                    continue
                server = socket.create_connection(self._target)
                self._sockets.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.close()
            except OSError:
                pass
