"""A real HTTP server on 127.0.0.1 that speaks the OpenAI chat-completions API with scripted replies
and injected faults (429 with Retry-After, 500, timeouts, malformed or truncated bodies).

Used by the back-end and judge tests, the reliability suite and the throughput benchmark. The
script is a function of (request JSON, call number) returning a Reply, so tests decide exactly what
each call sees; every request is recorded.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    text: str = "ok"
    status: int = 200
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None  # sent as is (malformed / truncated bodies)


def completion(text: str, model: str = "fake-model", prompt_tokens: int = 10, completion_tokens: int = 5) -> bytes:
    return json.dumps({
        "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens, "total_tokens": prompt_tokens + completion_tokens},
    }).encode()


class FakeOpenAI:
    """Start with ``with FakeOpenAI(script) as srv: srv.base_url``."""

    def __init__(self, script: Callable[[dict, int], Reply] | None = None) -> None:
        self.script = script or (lambda req, n: Reply("ok"))
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        self.times: list[float] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms delayed-ACK stalls

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    n = len(server.requests)
                    server.requests.append(body)
                    server.headers.append(dict(self.headers))
                    server.times.append(time.monotonic())
                reply = server.script(body, n)
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload = reply.raw_body if reply.raw_body is not None else (
                    completion(reply.text) if reply.status == 200 else json.dumps({"error": {"message": f"status {reply.status}"}}).encode())
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def faulty(script: Callable[[dict, int], Reply], rate: float, seed: int = 0, timeout_s: float = 3.0) -> Callable[[dict, int], Reply]:
    """Wrap a script so a share ``rate`` of calls fail: 429, 500, timeout, malformed JSON, truncated body."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def wrapped(req: dict, n: int) -> Reply:
        with lock:
            roll, kind = rng.random(), rng.randrange(5)
        if roll >= rate:
            return script(req, n)
        return [Reply(status=429, headers={"retry-after": "0.05"}), Reply(status=500), Reply(delay_s=timeout_s),
                Reply(raw_body=b'{"id": "x", "choices": [ {"message": '), Reply(raw_body=b"<html>bad gateway</html>")][kind]

    return wrapped


def serve_fixed_latency(port_q, stop, latency_s: float, text: str) -> None:
    """A minimal asyncio HTTP/1.1 endpoint (keep-alive) that answers every chat completion with ``text``
    after ``latency_s``; put its base URL on ``port_q`` and serve until ``stop`` is set. A protocol with a timer
    per request, not a coroutine per connection, so that at high concurrency the benchmark measures the
    client, not this server (which shares the machine's two cores with it)."""
    import asyncio

    body = completion(text)
    response = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body) + body

    class Endpoint(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport, self.buf = transport, b""

        def data_received(self, data):
            self.buf += data
            while True:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                at = head.find(b"content-length:")
                length = int(head[at + 15:].split(b"\r\n", 1)[0]) if at >= 0 else 0
                if len(self.buf) < end + 4 + length:
                    return
                self.buf = self.buf[end + 4 + length:]
                asyncio.get_running_loop().call_later(latency_s, self._answer)

        def _answer(self):
            if not self.transport.is_closing():
                self.transport.write(response)

    async def main():
        server = await asyncio.get_running_loop().create_server(Endpoint, "127.0.0.1", 0, backlog=1024)
        port_q.put(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1")
        while not stop.is_set():
            await asyncio.sleep(0.1)

    asyncio.run(main())


__all__ = ["FakeOpenAI", "Reply", "completion", "faulty", "serve_fixed_latency"]
