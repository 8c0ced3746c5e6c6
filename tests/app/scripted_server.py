"""A real HTTP server on 127.0.0.1 that answers from a script, for the unit tier.

It stands in for Google's endpoints only where the emulators cannot show the behaviour under
test: token expiry (the Firestore emulator ignores `exp`), 5xx and 429 answers, dropped
connections, and the Auth REST API (no Auth emulator without firebase-tools). The emulator tier
runs the same client against the official Firestore emulator.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.servers import free_port


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, Any]  # (status, JSON body); status 0 closes the connection without answering


@dataclass
class ScriptedServer:
    """`route(request) -> Reply` decides each answer; every request is recorded in `seen`."""

    route: Callable[[Seen], Reply]
    port: int = field(default_factory=free_port)
    seen: list[Seen] = field(default_factory=list)
    protocol_version: str = "HTTP/1.0"
    """HTTP/1.0 closes the connection after each answer; "HTTP/1.1" keeps it open for the next."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ScriptedServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = outer.protocol_version

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
                outer.seen.append(req)
                status, body = outer.route(req)
                if status == 0:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def rpc_error(status: int, name: str, message: str = "") -> Reply:
    return status, {"error": {"code": status, "status": name, "message": message}}
