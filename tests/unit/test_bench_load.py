"""bench/load.py: the bounded load loop and the barrier-released burst, against a loopback
HTTP server: the counts every latency and throughput figure is made of."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from bench.load import concurrent_gets, run_load


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def do_GET(self) -> None:
        # Recorded before answering: a client that has its answer finds its request counted.
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        body = b"missing" if self.path == "/missing" else b"ok"
        self.send_response(404 if self.path == "/missing" else 200)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-cache-status", "HIT")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", httpd  # type: ignore[misc]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_run_load_sends_the_bounded_count_over_keep_alive(server) -> None:
    url, httpd = server
    result = run_load(url, ["/a", "/b", "/missing"], concurrency=4, total=30)
    assert result.requests == 30 and result.errors == 0
    assert result.statuses == {200: 20, 404: 10}
    assert result.cache_statuses == {"HIT": 30}
    assert sorted(set(httpd.paths)) == ["/a", "/b", "/missing"]
    assert result.rps > 0 and all(ms >= 0 for ms in result.latencies_ms)
    # One per path by default, and each path once.
    httpd.paths.clear()
    once = run_load(url, [f"/p{i}" for i in range(25)], concurrency=8)
    assert once.requests == 25 and sorted(httpd.paths) == sorted(f"/p{i}" for i in range(25))
    with pytest.raises(ValueError):
        run_load(url, [], concurrency=1)


def test_run_load_stops_at_its_time_limit(server) -> None:
    url, _ = server
    result = run_load(url, ["/a"], concurrency=2, total=10**9, max_seconds=0.3)
    assert 0 < result.requests < 10**9 and result.elapsed_s < 5


def test_concurrent_gets_releases_all_together(server) -> None:
    url, httpd = server
    assert concurrent_gets(url, "/x", 20) == [200] * 20
    assert httpd.paths.count("/x") == 20
    assert concurrent_gets("http://127.0.0.1:9/", "/x", 3, timeout=2) == [0, 0, 0]
