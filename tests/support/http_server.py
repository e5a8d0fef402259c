"""A real HTTP server on 127.0.0.1 that serves one file and misbehaves on request.

Shared by ``tests/dataset/test_download.py`` and ``bench/bench_download.py`` so that both exercise the downloader
against actual sockets (Range requests, dropped connections, error statuses) rather than a mocked urllib:
the failures the downloader must survive happen at the socket level, where a mock would not reproduce them.
"""

from __future__ import annotations

import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")

#: Body bytes written per socket send: small enough that a drop point is hit exactly.
WRITE_CHUNK = 64 * 1024


@dataclass
class Misbehaviour:
    """What the server does wrong. The list fields are consumed one entry per request, in order."""

    drop_after: list[int] = field(default_factory=list)
    """Send this many body bytes, then close the connection (FIN) without finishing the body."""
    reset_after: list[int] = field(default_factory=list)
    """Send this many body bytes, then abort the connection (RST, ``ConnectionResetError`` on the client)."""
    stall_after: list[int] = field(default_factory=list)
    """Send this many body bytes, then go silent for ``stall_s`` before closing (a client timeout)."""
    stall_s: float = 1.0
    drop_at_offset: int | None = None
    """Every response stops at this file offset and closes: a server that always dies at the same byte."""
    fail_statuses: list[int] = field(default_factory=list)
    """Answer the next requests with these statuses (e.g. ``[500]``: fail once, then serve)."""
    always_status: int | None = None
    """Answer every request with this status (e.g. 404)."""
    corrupt: bool = False
    """Serve the right number of bytes, but not the right ones (one byte flipped)."""
    ignore_range: bool = False
    """Answer 200 with the whole file even when a Range is asked for."""


@dataclass
class SeenRequest:
    """What the server received and answered, for the tests' assertions."""

    method: str
    path: str
    range: str | None
    user_agent: str | None
    status: int
    body_bytes_sent: int = 0


class FileServer:
    """Serve ``payload`` at ``/<name>`` from a ThreadingHTTPServer on an ephemeral port, in a daemon thread.

    Use as a context manager (or call ``close``) so the port and thread are released even when a test fails.
    """

    def __init__(self, payload: bytes, name: str = "HaN-Seg.zip") -> None:
        self.payload = memoryview(payload)
        self.name = name
        self.misbehaviour = Misbehaviour()
        self.requests: list[SeenRequest] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False  # a stalled handler must not hold up the test's teardown
        # A short poll interval so that close() (which waits for the serve loop to notice) is quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="file-server", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{self.name}"

    def url_for(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{path.lstrip('/')}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FileServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self.requests.append(seen)

    def _take(self, queue: list[int]) -> int | None:
        with self._lock:
            return queue.pop(0) if queue else None


def _make_handler(server: FileServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep pytest output clean

        def do_GET(self) -> None:
            seen = SeenRequest(
                method="GET",
                path=self.path,
                range=self.headers.get("Range"),
                user_agent=self.headers.get("User-Agent"),
                status=0,
            )
            server._record(seen)
            self.close_connection = True
            rules = server.misbehaviour

            status = server._take(rules.fail_statuses) or rules.always_status
            if status is None and self.path.lstrip("/") != server.name:
                status = 404
            if status is not None:
                self._send_error_status(seen, status)
                return

            body = server.payload
            if rules.corrupt:
                flipped = bytearray(body)
                flipped[len(flipped) // 2] ^= 0xFF
                body = memoryview(bytes(flipped))
            size = len(body)
            start, end = 0, size - 1
            wanted = _RANGE_RE.match(seen.range or "")
            if wanted and not rules.ignore_range:
                start = int(wanted.group(1))
                end = min(int(wanted.group(2)), size - 1) if wanted.group(2) else size - 1
                if start >= size:
                    seen.status = 416  # recorded before answering: the client may finish before we return
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{size}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                seen.status = 206
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            else:
                seen.status = 200
                self.send_response(200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()

            # How much of the body to send before misbehaving, and how.
            limit = end - start + 1
            how = "finish"
            for queue, action in (
                (rules.drop_after, "drop"),
                (rules.reset_after, "reset"),
                (rules.stall_after, "stall"),
            ):
                cut = server._take(queue)
                if cut is not None:
                    limit, how = min(cut, limit), action
                    break
            if rules.drop_at_offset is not None and start + limit > rules.drop_at_offset:
                limit, how = max(rules.drop_at_offset - start, 0), "drop"

            try:
                position = start
                while position < start + limit:
                    step = min(WRITE_CHUNK, start + limit - position)
                    self.wfile.write(body[position : position + step])
                    position += step
                    seen.body_bytes_sent += step
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the client went away: nothing to do
            try:
                if how == "drop":
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif how == "reset":
                    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                elif how == "stall":
                    time.sleep(rules.stall_s)
                    self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # the client may already have hung up

        def _send_error_status(self, seen: SeenRequest, status: int) -> None:
            seen.status = status
            message = f"status {status} chosen by the test server\n".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)

    return Handler
