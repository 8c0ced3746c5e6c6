"""Serve the function to the Firestore emulator's own trigger delivery, without firebase-tools.

The official Firestore emulator started with `--functions_emulator=HOST:PORT` POSTs each Eventarc
event to that address, but not quite as Cloud Functions would deliver it (seen with emulator
1.19.9, the Cloud SDK's):

  * the protobuf `DocumentEventData` body is **base64 text**, still labelled application/protobuf;
  * `ce-source` doubles the prefix: `//firestore.googleapis.com/projects/projects/P/databases/...`.

firebase-tools undoes both before calling the function; `EmulatorDeliveryAdapter` does the same in
front of functions-framework's WSGI app, so the emulator tier runs the real entry point unchanged.
A raw protobuf body passes through untouched: DocumentEventData starts with field tag 0x0A or 0x12,
neither of which is in the base64 alphabet, so strict base64 decoding always fails on it.

    python -m chat_emotion.emulator_adapter --source functions/main.py --target classify_message --port 8085

Every flag has an environment twin (FUNCTION_SOURCE, FUNCTION_TARGET, HOST, PORT), as in
functions-framework. Production never uses this module.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import io
import os
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_DOUBLED = "/projects/projects/"


class EmulatorDeliveryAdapter:
    """WSGI middleware: decode base64 protobuf bodies and repair ce-source, then call `app`."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if "application/protobuf" in environ.get("CONTENT_TYPE", ""):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            body = decode_body(body)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        source = environ.get("HTTP_CE_SOURCE")
        if source and _DOUBLED in source:
            environ["HTTP_CE_SOURCE"] = source.replace(_DOUBLED, "/projects/", 1)
        return self.app(environ, start_response)


def decode_body(body: bytes) -> bytes:
    """The protobuf bytes of a delivery body, whether the emulator base64-encoded them or not."""
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return body


def create_app(source: str, target: str) -> Any:
    """functions-framework's app for `target` in `source`, behind the adapter."""
    import functions_framework

    app = functions_framework.create_app(target=target, source=source, signature_type="cloudevent")
    app.wsgi_app = EmulatorDeliveryAdapter(app.wsgi_app)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m chat_emotion.emulator_adapter",
        description="Serve a Firestore-triggered function to the Firestore emulator's trigger delivery "
                    "(--functions_emulator=HOST:PORT), decoding what the emulator sends.")
    parser.add_argument("--source", default=os.environ.get("FUNCTION_SOURCE", "functions/main.py"),
                        help="file that declares the function [FUNCTION_SOURCE, default functions/main.py]")
    parser.add_argument("--target", default=os.environ.get("FUNCTION_TARGET", "classify_message"),
                        help="the function's name [FUNCTION_TARGET, default classify_message]")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"),
                        help="address to bind [HOST, default 127.0.0.1]")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8085")),
                        help="port to bind [PORT, default 8085]")
    args = parser.parse_args(argv)
    # As Cloud Run and firebase-tools' emulator do: main.py serves the trigger on its own path
    # when it is the target (functions/main.py, SERVING_TRIGGER).
    os.environ["FUNCTION_TARGET"] = args.target
    from werkzeug.serving import make_server

    # threaded: the emulator may deliver several events at once, as Cloud Functions' concurrency does.
    server = make_server(args.host, args.port, create_app(args.source, args.target), threaded=True)
    print(f"serving {args.target} from {args.source} on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
