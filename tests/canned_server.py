"""A model server on loopback that answers with canned replies, for the model clients' unit
tests: the real aiohttp client over real sockets, with the reply each test chooses (a status,
NDJSON or SSE lines, a JSON error), and every request it received."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Route:
    """The canned reply of one path, and the requests it answered (`json`, `headers`)."""

    def __init__(self, status: int, body: bytes, content_type: str):
        self.status, self.body, self.content_type = status, body, content_type
        self.calls: list[dict] = []

    @property
    def call_count(self) -> int:
        return len(self.calls)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        route = self.server.routes.get(self.path)
        if route is None:
            route = Route(404, b'{"error": "no canned reply"}', "application/json")
        with self.server.lock:
            route.calls.append({"json": json.loads(body or b"null"), "headers": self.headers})
        self.send_response(route.status)
        self.send_header("Content-Type", route.content_type)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        self.wfile.write(route.body)


class CannedServer:
    def __init__(self):
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.routes = {}
        self._server.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def reply(self, path: str, status: int = 200, text: str = "", json=None) -> Route:
        """Every POST to `path` gets `status` with `text` (or `json`, as JSON)."""
        if json is not None:
            route = Route(status, _json_bytes(json), "application/json")
        else:
            route = Route(status, text.encode(), "application/x-ndjson")
        self._server.routes[path] = route
        return route

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _json_bytes(value) -> bytes:
    return json.dumps(value).encode()
