"""A stand-in for Ollama on loopback, faithful to shared/OLLAMA.md, for tests and `make bench`.

Speaks HTTP/1.1 with keep-alive; /api/chat streams NDJSON in chunked encoding, one line per
chunk. `mode` picks a behaviour:
  ok                stream `tokens`, `delay` seconds apart, then the done line
  hang              accept the request and send nothing for `hang` seconds
  error500 / busy503 / missing404   the JSON error replies of Ollama
  midstream_error   stream `error_after` tokens, then an {"error": …} line, then end
  garbage           stream one good token, then a line that is not JSON
`reply`, when set, makes the streamed tokens a function of the chat body (a model that
answers from its prompt, or invents).
`num_parallel` (None: unlimited) and `max_queue` behave as OLLAMA_NUM_PARALLEL and
OLLAMA_MAX_QUEUE: past `num_parallel` generations a chat waits for one to end, and past
`max_queue` waiting it gets 503 "server busy".
It counts requests, TCP connections and generations running at once (`active`, and the most
ever seen in `max_active`), and records each chat body and each stream the client abandoned
(noticed, as Ollama's runner does, at the next write).
"""

import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GROUNDED_TOKENS = (
    "Open ", "**Clients** ", "and ", "click ", "**New ", "client**. ",
    "Fill ", "in ", "the ", "company ", "name. ",
    "Click ", "**Save ", "client**.",
)  # fmt: skip
SENTENCES = 3  # in GROUNDED_TOKENS
# An answer grounded in the demo doc on exporting invoices (the guard lets through only labels
# of the passages in the prompt: the default answer's are the client doc's).
EXPORT_TOKENS = ("Click ", "**Export ", "PDF** on the ", "Invoices page.")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the listen backlog: many clients connect at once under load

    def __init__(self, standin: "OllamaStandIn"):
        self.standin = standin
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request, client_address):
        with self.standin.lock:
            self.standin.connections += 1
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Go's net/http (Ollama) sets TCP_NODELAY on every connection: small NDJSON lines
        # go out at once instead of waiting on Nagle for the previous segment's ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args) -> None:  # quiet
        pass

    @property
    def s(self) -> "OllamaStandIn":
        return self.server.standin

    def _send_json(self, status: int, obj: dict) -> None:
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.s.count("HEAD " + self.path)
        self.send_response(200 if self.s.mode != "down_probe" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self.s.count("GET " + self.path)
        if self.path == "/":
            body = b"Ollama is running"
            self.send_response(500 if self.s.mode == "down_probe" else 200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/api/version":
            self._send_json(200, {"version": "0.6.0-standin"})
        else:
            self._send_json(404, {"error": "404 page not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        self.s.count("POST " + self.path)
        if self.path != "/api/chat":
            self._send_json(404, {"error": "404 page not found"})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_json(400, {"error": "invalid character in request body"})
            return
        with self.s.lock:
            self.s.chat_bodies.append(body)
        self.s.arrived.set()
        if body.get("messages") and not self.s.admit():
            self._send_json(
                503, {"error": "server busy, please try again.  maximum pending requests exceeded"}
            )
            return
        try:
            self._chat(body)
        finally:
            if body.get("messages"):
                self.s.leave()

    def _chat(self, body: dict) -> None:
        mode, model = self.s.mode, body.get("model", "")
        if mode == "hang":
            self.s.hung_up.wait(self.s.hang)
            self.close_connection = True
            return
        if mode == "error500":
            self._send_json(500, {"error": "llama runner process has terminated"})
            return
        if mode == "busy503":
            self._send_json(
                503, {"error": "server busy, please try again.  maximum pending requests exceeded"}
            )
            return
        if mode == "missing404":
            self._send_json(404, {"error": f"model '{model}' not found"})
            return
        if not body.get("messages"):  # warm-up: ONE object even when streaming is asked for
            self._send_json(
                200,
                {
                    "model": model,
                    "created_at": _now(),
                    "message": {"role": "assistant", "content": ""},
                    "done": True,
                    "done_reason": "load",
                },
            )
            return
        if body.get("stream") is False:
            self._send_json(
                200,
                {
                    **_final(model, len(self.s.tokens)),
                    "message": {"role": "assistant", "content": "".join(self.s.tokens)},
                },
            )
            return
        self._stream(model, body)

    def _stream(self, model: str, body: dict) -> None:
        s = self.s
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        lines: list[tuple[float, dict | bytes]] = []
        tokens = s.reply(body) if s.reply else s.tokens
        if s.mode == "midstream_error":
            tokens = tokens[: s.error_after]
        elif s.mode == "garbage":
            tokens = tokens[:1]
        for i, tok in enumerate(tokens):
            lines.append(
                (
                    s.first_delay if i == 0 else s.delay,
                    {
                        "model": model,
                        "created_at": _now(),
                        "message": {"role": "assistant", "content": tok},
                        "done": False,
                    },
                )
            )
        if s.mode == "midstream_error":
            lines.append((s.delay, {"error": "an error was encountered while running the model"}))
        elif s.mode == "garbage":
            lines.append((s.delay, b"<html>this is not json"))
        else:
            lines.append(
                (
                    s.delay,
                    {**_final(model, len(tokens)), "message": {"role": "assistant", "content": ""}},
                )
            )
        try:
            for i, (delay, line) in enumerate(lines):
                if delay and s.stop.wait(delay):
                    return
                data = line if isinstance(line, bytes) else json.dumps(line).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data) + 1, data + b"\n"))
                self.wfile.flush()
                with s.lock:
                    s.sent_log.append((time.perf_counter(), i))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            with s.lock:
                s.abandoned += 1
            s.abandoned_event.set()
            self.close_connection = True


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _final(model: str, n: int) -> dict:
    return {
        "model": model,
        "created_at": _now(),
        "done": True,
        "done_reason": "stop",
        "total_duration": 174560334,
        "load_duration": 101397084,
        "prompt_eval_count": 11,
        "prompt_eval_duration": 13074791,
        "eval_count": n,
        "eval_duration": 52479709,
    }


class OllamaStandIn:
    def __init__(self):
        self.lock = threading.Lock()
        self.slot_free = threading.Condition(self.lock)
        self.stop = threading.Event()
        self.hung_up = threading.Event()  # set by reset(): requests in "hang" mode end
        self.reset()
        self._server = _Server(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def reset(self, **behaviour) -> "OllamaStandIn":
        """Zero the counters and set the behaviour (mode, tokens, delay, first_delay, …).
        Requests hanging from before end now (their connection closes), as a restarted
        server's would."""
        self.hung_up.set()
        self.hung_up = threading.Event()
        with self.lock:
            self.mode = "ok"
            # Three sentences of the "Creating a client" demo doc, in awkward pieces.
            self.tokens = list(GROUNDED_TOKENS)
            self.reply = None  # or a function of the chat body returning the tokens
            self.delay = 0.0
            self.first_delay = 0.0
            self.hang = 60.0
            self.error_after = 2
            self.requests: dict[str, int] = {}
            self.connections = 0
            self.chat_bodies: list[dict] = []
            self.sent_log: list[tuple[float, int]] = []
            self.abandoned = 0
            self.abandoned_event = threading.Event()
            self.arrived = threading.Event()
            self.num_parallel: int | None = None
            self.max_queue = 512
            # Generations still running from before a reset keep counting until they end.
            self.active = getattr(self, "active", 0)
            self.waiting = getattr(self, "waiting", 0)
            self.max_active = self.active
            for key, value in behaviour.items():
                setattr(self, key, value)
        return self

    def admit(self) -> bool:
        """Wait for a generation slot as Ollama's scheduler does; False: the queue is full."""
        with self.slot_free:
            if self.num_parallel is not None and self.active >= self.num_parallel:
                if self.waiting >= self.max_queue:
                    return False
                self.waiting += 1
                while self.active >= self.num_parallel and not self.stop.is_set():
                    self.slot_free.wait(0.5)
                self.waiting -= 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            return True

    def leave(self) -> None:
        with self.slot_free:
            self.active -= 1
            self.slot_free.notify_all()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no generation runs or waits (a test's own, left by the one before it, whatever
        the order); then the counters start from nothing."""
        with self.slot_free:
            idle = self.slot_free.wait_for(
                lambda: self.active == 0 and self.waiting == 0, timeout=timeout
            )
        if not idle:
            raise TimeoutError(f"the stand-in still generates: {self.active} active")

    def count(self, what: str) -> None:
        with self.lock:
            self.requests[what] = self.requests.get(what, 0) + 1

    @property
    def chat_calls(self) -> int:
        return self.requests.get("POST /api/chat", 0)

    def start(self) -> "OllamaStandIn":
        self._thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.hung_up.set()
        self._server.shutdown()
        self._server.server_close()


if __name__ == "__main__":  # `python -m tests.ollama_standin` for manual runs and the bench
    import argparse
    import resource

    parser = argparse.ArgumentParser()
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between tokens")
    parser.add_argument("--first-delay", type=float, default=0.0, help="before the first token")
    parser.add_argument("--repeat", type=int, default=1, help="the answer's sentences, n times")
    args = parser.parse_args()
    # One thread and one socket per open generation: a thousand of them need the room.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    standin = OllamaStandIn().start()
    standin.reset(
        delay=args.delay, first_delay=args.first_delay, tokens=list(GROUNDED_TOKENS) * args.repeat
    )
    print(standin.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        standin.close()
