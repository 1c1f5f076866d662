"""A loopback HTTP server for tests that need an upstream: it listens on 127.0.0.1 only, on
a free port, and answers every GET with what `answer(request headers)` returns (status,
content type, body), counting the requests it got."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Answer = Callable[[Mapping[str, str]], tuple[int, str, bytes]]


class LoopbackServer:
    def __init__(self, path: str, answer: Answer) -> None:
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                status, content_type, body = answer(dict(self.headers.items()))
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        """Stop listening (again: a no-op)."""
        if self.server.socket.fileno() != -1:
            self.server.shutdown()
            self.server.server_close()
