"""The app's way of writing a message, over the Firestore emulator's REST API."""

from __future__ import annotations

from typing import Any

from tests.support.servers import FirestoreEmulator


def encode(value: Any) -> dict[str, Any]:
    """A Python value as a Firestore REST `Value`."""
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, dict):
        return {"mapValue": {"fields": {k: encode(v) for k, v in value.items()}}}
    raise TypeError(f"no REST value for {type(value).__name__}")


def decode(value: dict[str, Any]) -> Any:
    """A Firestore REST `Value` as a Python value (timestamps stay RFC 3339 strings)."""
    (kind, inner), = value.items()
    if kind == "mapValue":
        return {k: decode(v) for k, v in inner.get("fields", {}).items()}
    if kind == "arrayValue":
        return [decode(v) for v in inner.get("values", [])]
    if kind == "integerValue":
        return int(inner)
    return inner


def commit_create(emulator: FirestoreEmulator, path: str, fields: dict[str, Any],
                  headers: dict[str, str], *, server_time: str | None = "createdAt") -> tuple[int, dict]:
    """Create `path` the way the app does: one `:commit` with `currentDocument.exists=false` (a retry
    of the same message id is refused, not duplicated) and `server_time` set by a REQUEST_TIME transform."""
    write: dict[str, Any] = {
        "update": {"name": f"projects/{emulator.project}/databases/(default)/documents/{path}",
                   "fields": {k: encode(v) for k, v in fields.items()}},
        "currentDocument": {"exists": False},
    }
    if server_time:
        write["updateTransforms"] = [{"fieldPath": server_time, "setToServerValue": "REQUEST_TIME"}]
    return emulator.request("POST", f"{emulator.documents_url}:commit", {"writes": [write]}, headers)


def get_document(emulator: FirestoreEmulator, path: str,
                 headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any] | None]:
    """(HTTP status, decoded fields or None)."""
    status, body = emulator.request("GET", f"{emulator.documents_url}/{path}",
                                    headers=headers or emulator.admin_headers)
    if status != 200:
        return status, None
    return status, {k: decode(v) for k, v in body.get("fields", {}).items()}
