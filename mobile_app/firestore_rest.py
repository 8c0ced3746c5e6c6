"""The person's messages in Cloud Firestore, over the REST API with their ID token (no gRPC).

Blocking calls for a worker thread. Errors come back as `FirestoreError`, classified so the sync
engine knows whether to retry (offline, 429, 5xx), refresh the token (401) or give up and show why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from mobile_app.auth import TIMEOUT, AuthError, TokenProvider

PRODUCTION_URL = "https://firestore.googleapis.com"
# gRPC status names that mean "the document already exists": a retry of a write that landed.
EXISTS_STATUSES = {"ALREADY_EXISTS", "FAILED_PRECONDITION"}
TRANSIENT_HTTP = {408, 429, 500, 502, 503, 504}


class FirestoreError(Exception):
    def __init__(self, http_status: int, status: str, message: str) -> None:
        super().__init__(f"{http_status} {status}: {message}")
        self.http_status = http_status  # 0: no answer (offline, timeout)
        self.status = status
        self.message = message

    @property
    def transient(self) -> bool:
        return self.http_status == 0 or self.http_status in TRANSIENT_HTTP or self.status in (
            "UNAVAILABLE", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED", "ABORTED", "INTERNAL")

    @property
    def unauthenticated(self) -> bool:
        return self.http_status == 401 or self.status == "UNAUTHENTICATED"

    @property
    def already_exists(self) -> bool:
        return self.status in EXISTS_STATUSES or self.http_status == 409 and self.status != "ABORTED"

    def human(self) -> str:
        if self.http_status == 0:
            return "No connection to the server; will retry."
        if self.status == "PERMISSION_DENIED":
            return "The server refused this message (permission denied). Sign in again, or check the backend."
        if self.transient:
            return f"The server is busy ({self.http_status}); will retry."
        return f"The server refused this message: {self.message or self.status}"


@dataclass
class Document:
    id: str
    fields: dict[str, Any]
    create_time: str = ""
    update_time: str = ""


class FirestoreClient:
    """`users/{uid}/messages` for the signed-in person, at `base_url` (production or an emulator)."""

    def __init__(self, base_url: str, project: str, tokens: TokenProvider,
                 http: requests.Session | None = None, database: str = "(default)",
                 app_check: Any = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.project = project
        self.database = database
        self.tokens = tokens
        self.http = http or requests.Session()
        self.app_check = app_check
        """A mobile_app.appcheck.DebugAppCheck (its header goes on every request), or None."""

    @property
    def root(self) -> str:
        """Resource name prefix of every document."""
        return f"projects/{self.project}/databases/{self.database}/documents"

    def messages_path(self, uid: str | None = None) -> str:
        return f"users/{uid or self._uid()}/messages"

    def _uid(self) -> str:
        uid = self.tokens.uid
        if not uid:
            raise FirestoreError(401, "UNAUTHENTICATED", "not signed in")
        return uid

    # --- operations ---------------------------------------------------------------------------

    def create_message(self, message_id: str, text: str, model: str, uid: str | None = None) -> str | None:
        """Create the message exactly once; returns the server's createdAt.

        An `update` write with `exists: false` plus a REQUEST_TIME transform is the only shape
        firestore.rules accepts (createdAt == request.time). A document that already exists is an
        earlier attempt that landed (ALREADY_EXISTS): returned as None, not an error.
        """
        name = f"{self.root}/{self.messages_path(uid)}/{message_id}"
        body = {"writes": [{
            "update": {"name": name,
                       "fields": {"text": {"stringValue": text}, "model": {"stringValue": model}}},
            "currentDocument": {"exists": False},
            "updateTransforms": [{"fieldPath": "createdAt", "setToServerValue": "REQUEST_TIME"}],
        }]}
        try:
            data = self._call("POST", f"{self.root}:commit", body)
        except FirestoreError as err:
            if err.already_exists:
                return None
            if err.status == "PERMISSION_DENIED" and self._is_ours(message_id, text, uid):
                # Production judges rules before the precondition: an existing doc reads as an
                # `update`, which rules refuse. If it is there with our text, the earlier attempt landed.
                return None
            raise
        results = data.get("writeResults") or [{}]
        transform = (results[0].get("transformResults") or [{}])[0]
        return transform.get("timestampValue")

    def _is_ours(self, message_id: str, text: str, uid: str | None) -> bool:
        try:
            doc = self.get_message(message_id, uid)
        except FirestoreError:
            return False
        return doc is not None and doc.fields.get("text") == text

    def get_message(self, message_id: str, uid: str | None = None) -> Document | None:
        try:
            data = self._call("GET", f"{self.root}/{self.messages_path(uid)}/{message_id}")
        except FirestoreError as err:
            if err.http_status == 404:
                return None
            raise
        return _document(data)

    def get_messages(self, message_ids: list[str], uid: str | None = None) -> dict[str, Document | None]:
        """The named messages in one round trip (batchGet); None for those not on the server."""
        if not message_ids:
            return {}
        names = [f"{self.root}/{self.messages_path(uid)}/{mid}" for mid in message_ids]
        data = self._call("POST", f"{self.root}:batchGet", {"documents": names})
        found: dict[str, Document | None] = dict.fromkeys(message_ids)
        for item in data:
            if "found" in item:
                doc = _document(item["found"])
                found[doc.id] = doc
        return found

    def recent_messages(self, limit: int = 100, uid: str | None = None) -> list[Document]:
        """The person's newest messages, oldest first (a runQuery on their own collection)."""
        query = {"structuredQuery": {
            "from": [{"collectionId": "messages"}],
            "orderBy": [{"field": {"fieldPath": "createdAt"}, "direction": "DESCENDING"}],
            "limit": limit,
        }}
        data = self._call("POST", f"{self.root}/users/{uid or self._uid()}:runQuery", query)
        docs = [_document(item["document"]) for item in data if "document" in item]
        return docs[::-1]

    # --- transport ----------------------------------------------------------------------------

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request; on 401 the token is refreshed and the request sent once more."""
        for attempt in range(2):
            try:
                token = self.tokens.refresh() if attempt else self.tokens.id_token()
            except AuthError as exc:
                if exc.transient:  # the token server is unreachable: as good as offline
                    raise FirestoreError(0, "UNAVAILABLE", str(exc)) from exc
                raise
            headers = {"Authorization": f"Bearer {token}"}
            if self.app_check is not None:
                try:
                    headers.update(self.app_check.headers())
                except Exception as exc:  # AppCheckError: as good as offline, the sync engine retries
                    raise FirestoreError(0, "UNAVAILABLE", str(exc)) from exc
            try:
                resp = self.http.request(method, f"{self.base_url}/v1/{path}", json=body, timeout=TIMEOUT,
                                         headers=headers)
            except requests.RequestException as exc:
                raise FirestoreError(0, "UNAVAILABLE", f"{type(exc).__name__}: {exc}") from exc
            if resp.status_code == 200:
                return resp.json()
            err = _error(resp)
            if not err.unauthenticated or attempt:
                raise err
        raise AssertionError("unreachable")


def _error(resp: requests.Response) -> FirestoreError:
    try:
        payload = resp.json()
    except ValueError:
        payload = None
    if isinstance(payload, list) and payload:  # runQuery/batchGet stream errors as a list
        payload = payload[0]
    error = payload.get("error", {}) if isinstance(payload, dict) else {}
    return FirestoreError(resp.status_code, str(error.get("status", "")),
                          str(error.get("message", "")).strip() or resp.reason or "")


def _document(raw: dict[str, Any]) -> Document:
    return Document(id=raw["name"].rsplit("/", 1)[-1],
                    fields={k: decode_value(v) for k, v in (raw.get("fields") or {}).items()},
                    create_time=raw.get("createTime", ""), update_time=raw.get("updateTime", ""))


def decode_value(value: dict[str, Any]) -> Any:
    """Firestore's typed JSON value → plain Python (timestamps stay RFC 3339 strings)."""
    if "mapValue" in value:
        return {k: decode_value(v) for k, v in (value["mapValue"].get("fields") or {}).items()}
    if "arrayValue" in value:
        return [decode_value(v) for v in value["arrayValue"].get("values") or []]
    if "integerValue" in value:
        return int(value["integerValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "nullValue" in value:
        return None
    for key in ("stringValue", "booleanValue", "timestampValue", "referenceValue", "bytesValue"):
        if key in value:
            return value[key]
    if "geoPointValue" in value:
        return value["geoPointValue"]
    raise ValueError(f"unknown Firestore value {value!r}")
