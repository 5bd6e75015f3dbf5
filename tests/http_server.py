"""A local HTTP server on 127.0.0.1 for URL-source tests (nothing leaves the machine)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    content_type: str | None = "image/jpeg"
    delay_s: float = 0.0  # wait before answering (timeouts)
    send_length: bool = True  # False: no Content-Length, the body ends when the connection does
    headers: dict[str, str] = field(default_factory=dict)


@contextlib.contextmanager
def serve(routes: dict[str, Route]) -> Iterator[str]:
    """Serve routes (path -> Route) in a thread; yields the base URL 'http://127.0.0.1:<port>'."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404, "Not Found")
                return
            if route.delay_s:
                time.sleep(route.delay_s)
            self.send_response(route.status)
            if route.content_type:
                self.send_header("Content-Type", route.content_type)
            if route.send_length:
                self.send_header("Content-Length", str(len(route.body)))
            for k, v in route.headers.items():
                self.send_header(k, v)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(route.body)

        def log_message(self, *args) -> None:  # keep the test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
