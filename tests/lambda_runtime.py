"""The Lambda service's side of the Runtime API (version 2018-06-01) on a loopback port.

A Lambda container image's runtime interface client (awslambdaric) polls this API for the next
invocation and posts the handler's result back, exactly as it does inside AWS Lambda. AWS's own
emulator of this API is a Go binary that no package registry reachable here ships, so the tests
serve the four documented routes themselves: next invocation, response, error and init error.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PREFIX = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:facemood-test"


class Invocation:
    """One event on its way to the function, and the function's answer when it comes."""

    def __init__(self, event: Any, timeout_s: float) -> None:
        self.request_id = str(uuid.uuid4())
        self.event = event
        self.deadline_ms = int((time.time() + timeout_s) * 1000)
        self.answered = threading.Event()
        self.ok = False
        self.payload: Any = None


class LambdaRuntimeApi:
    """Serve invocations to one Lambda container: ``invoke(event)`` waits for its result."""

    def __init__(self) -> None:
        self._pending: queue.Queue[Invocation] = queue.Queue()
        self._by_id: dict[str, Invocation] = {}
        self.init_error: Any = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API`` in the container."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def invoke(self, event: Any, timeout_s: float = 120) -> tuple[bool, Any]:
        """Hand ``event`` to the function; (True, its result) or (False, its error object)."""
        invocation = Invocation(event, timeout_s)
        self._by_id[invocation.request_id] = invocation
        self._pending.put(invocation)
        if not invocation.answered.wait(timeout_s):
            raise TimeoutError(f"the function did not answer within {timeout_s} s"
                               + (f" (init error: {self.init_error})" if self.init_error else ""))
        return invocation.ok, invocation.payload

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            """The routes awslambdaric calls."""

            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reports what matters."""

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # pylint: disable=invalid-name
                """Long-poll for the next invocation, as Lambda does."""
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404)
                    return
                invocation = api._pending.get()  # pylint: disable=protected-access
                self._reply(200, json.dumps(invocation.event).encode(), {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(invocation.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                })

            def do_POST(self) -> None:  # pylint: disable=invalid-name
                """A result, a function error, or an error while the runtime started."""
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path[len(PREFIX):].strip("/").split("/")
                payload = json.loads(body) if body else None
                if parts == ["init", "error"]:
                    api.init_error = payload
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    invocation = api._by_id.get(parts[1])  # pylint: disable=protected-access
                    if invocation is None:
                        self._reply(400)
                        return
                    invocation.ok, invocation.payload = parts[2] == "response", payload
                    invocation.answered.set()
                else:
                    self._reply(404)
                    return
                self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

        return Handler
