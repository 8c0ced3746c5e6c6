"""The serving instance's MessageRepository: Firestore's REST API over urllib3, no gRPC client.

`FirestoreRepository` (google-cloud-firestore) costs a cold instance its largest import (gRPC,
google.api_core, the proto-plus types: ~0.3 s on one core, before the first claim can start) for
three kinds of call: read one document, commit writes with a precondition, commit writes with
transforms. The REST API does the same with the same guarantees (the claim's compare-and-set on
the read's `updateTime`, server timestamps, `Increment` returning its new value), so the trigger's
instances use this and the scheduled sweep, which queries, keeps the client library.

Every scenario of tests/function/test_entry_point.py (duplicates, deletes, concurrent deliveries,
stale leases, rate limits) runs against both repositories on the official emulator, and
tests/reliability/test_hostile_input.py feeds both every value type a client can write: a field
decodes to the same Python types as the client library's (bytes stay bytes; a reference or a
geo point is not a str), so validation answers the same.

Auth: against FIRESTORE_EMULATOR_HOST, `Bearer owner` (the emulator's Admin stand-in, as the client
library sends); in the cloud, Application Default Credentials (the function's service account,
google-auth), refreshed before expiry.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import urllib3

from chat_emotion.quota import Usage, Window
from chat_emotion.repository import (
    _CLAIM_ATTEMPTS,
    COMPLETED,
    ERROR,
    PROCESSING,
    Claim,
    claimable,
    next_attempt,
)

_SCOPE = "https://www.googleapis.com/auth/datastore"
_NOW = "REQUEST_TIME"
# Reads are idempotent: retried on a dropped connection or a transient status. A commit is retried
# only when it cannot have reached the server (the connection failed), never after a reply.
_READ_RETRY = urllib3.Retry(total=4, backoff_factor=0.05, status_forcelist=(429, 500, 502, 503, 504),
                            allowed_methods=None)  # batchGet is a POST that only reads
_WRITE_RETRY = urllib3.Retry(total=2, connect=2, read=0, status=0, other=0, backoff_factor=0.05)


class FirestoreRestError(Exception):
    """A Firestore REST call that failed: the HTTP status, Firestore's status name and message."""

    def __init__(self, http_status: int, status: str, message: str) -> None:
        super().__init__(f"Firestore {http_status} {status}: {message}")
        self.http_status, self.status = http_status, status


@dataclass(frozen=True)
class DocumentReference:
    """A `referenceValue` field: the document's full name (a reference, not text)."""

    path: str


@dataclass(frozen=True)
class GeoPoint:
    """A `geoPointValue` field."""

    latitude: float
    longitude: float


class RestRepository:
    """Messages in Cloud Firestore through its REST API (`projects/P/databases/D/documents`)."""

    def __init__(self, project: str, database: str = "(default)", *, credentials: Any = None,
                 origin: str = "https://firestore.googleapis.com") -> None:
        """Against FIRESTORE_EMULATOR_HOST when it is set, else `origin` with `credentials`
        (Application Default Credentials when None)."""
        host = os.environ.get("FIRESTORE_EMULATOR_HOST")
        self._emulator = bool(host)
        self._root = f"projects/{project}/databases/{database}/documents"
        self._base = f"{f'http://{host}' if host else origin}/v1/{self._root}"
        self._http = urllib3.PoolManager(maxsize=32, timeout=urllib3.Timeout(connect=10, read=30))
        self._credentials = credentials
        self._auth_lock = threading.Lock()

    @classmethod
    def for_database(cls, project: str, database: str = "(default)") -> RestRepository:
        return cls(project, database)

    # --- the MessageRepository interface (chat_emotion.repository) ------------------------------

    def claim(self, path: str, *, lease_s: float, count: Window | None = None) -> Claim:
        for attempt in range(_CLAIM_ATTEMPTS):
            document = self._get(path)
            if document is None:
                return Claim("missing")
            data = decode_fields(document.get("fields"))
            status = data.get("status")
            if not claimable(status, dt.datetime.now(dt.UTC), lease_s):
                return Claim("taken", data, status.get("state") if isinstance(status, dict) else None)
            claim_number = next_attempt(status)
            # Compare-and-set on the update time the read saw (see FirestoreRepository.claim).
            writes = [self._update(path, {"status": {"state": PROCESSING, "attempts": claim_number}},
                                   ["status"], ["status.startTime", "status.updateTime"],
                                   {"updateTime": document["updateTime"]})]
            counted = count is not None and claim_number == 1
            if counted:
                writes.append(self._count(count, 1))  # same commit: counted if and only if claimed
            try:
                results = self._commit(writes)
            except FirestoreRestError as err:
                if err.status == "NOT_FOUND":
                    return Claim("missing")
                if err.status != "FAILED_PRECONDITION":
                    raise
                time.sleep(min(0.01 * 2**attempt, 0.2) * random.uniform(0.5, 1.5))
                continue
            return Claim("claimed", data, attempt=claim_number,
                         usage=_usage(results[1]) if counted else None)
        raise RuntimeError(f"could not claim {path}: it changed under each of {_CLAIM_ATTEMPTS} reads")

    def refund(self, where: Window) -> None:
        self._commit([self._count(where, -1)])

    def complete(self, path: str, emotion: dict[str, Any]) -> bool:
        return self._finish(path, {"status": {"state": COMPLETED}, "emotion": emotion},
                            ["status.state", "emotion"])

    def fail(self, path: str, code: str, message: str, *, retry_at: dt.datetime | None = None) -> bool:
        error: dict[str, Any] = {"code": code, "message": message}
        if retry_at is not None:
            error["retryAt"] = retry_at
        return self._finish(path, {"status": {"state": ERROR, "error": error}},
                            ["status.state", "status.error"])

    # --- writes ---------------------------------------------------------------------------------

    def _finish(self, path: str, fields: dict[str, Any], mask: list[str]) -> bool:
        try:
            # exists=true: a message deleted meanwhile stays deleted.
            self._commit([self._update(path, fields, mask, ["status.updateTime", "status.completeTime"],
                                       {"exists": True})])
        except FirestoreRestError as err:
            if err.status == "NOT_FOUND":
                return False
            raise
        return True

    def _update(self, path: str, fields: dict[str, Any], mask: list[str], now: list[str],
                precondition: dict[str, Any]) -> dict[str, Any]:
        return {"update": {"name": self._name(path), "fields": encode_fields(fields)},
                "updateMask": {"fieldPaths": mask},
                "updateTransforms": [{"fieldPath": p, "setToServerValue": _NOW} for p in now],
                "currentDocument": precondition}

    def _count(self, where: Window, step: int) -> dict[str, Any]:
        # A merge (the mask names expireAt only): the counters' other minutes stay. Transform
        # results come back in this order: day, then the minute (see _usage).
        increment = {"integerValue": str(step)}
        return {"update": {"name": self._name(where.document),
                           "fields": encode_fields({"expireAt": where.expire_at})},
                "updateMask": {"fieldPaths": ["expireAt"]},
                "updateTransforms": [{"fieldPath": "day", "increment": increment},
                                     {"fieldPath": f"minute.{where.minute_key}", "increment": increment}]}

    # --- HTTP -----------------------------------------------------------------------------------

    def _name(self, path: str) -> str:
        return f"{self._root}/{path}"

    def _get(self, path: str) -> dict[str, Any] | None:
        # batchGet, not GET <name>: the name travels in the JSON body as the commit's do, never in
        # the URL, where the emulator trims whitespace off each segment ("users/ /messages/m" read
        # as "users//messages/m", "users/a /..." as another user's "users/a/...").
        reply = self._call("POST", f"{self._base}:batchGet", {"documents": [self._name(path)]}, _READ_RETRY)
        found = [entry["found"] for entry in reply if isinstance(entry, dict) and "found" in entry]
        return found[0] if found else None

    def _commit(self, writes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        reply = self._call("POST", f"{self._base}:commit", {"writes": writes}, _WRITE_RETRY)
        return reply.get("writeResults", [])

    def _call(self, method: str, url: str, body: dict[str, Any] | None, retries: urllib3.Retry) -> Any:
        headers = {"Authorization": self._authorization()}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body).encode()
        response = self._http.request(method, url, body=payload, headers=headers, retries=retries,
                                      redirect=False)
        data = response.data
        try:
            reply = json.loads(data) if data else {}
        except ValueError:
            reply = {}
        if response.status >= 400:
            error = reply.get("error", {}) if isinstance(reply, dict) else {}
            status = error.get("status") or ("NOT_FOUND" if response.status == 404 else str(response.status))
            raise FirestoreRestError(response.status, status, str(error.get("message") or data[:200]))
        return reply

    def _authorization(self) -> str:
        if self._emulator:
            return "Bearer owner"
        with self._auth_lock:
            if self._credentials is None:
                import google.auth

                self._credentials, _ = google.auth.default(scopes=[_SCOPE])
            if not self._credentials.valid:
                from google.auth.transport.urllib3 import Request

                self._credentials.refresh(Request(self._http))
            return f"Bearer {self._credentials.token}"


def _usage(result: dict[str, Any]) -> Usage:
    day, minute = (int(value["integerValue"]) for value in result["transformResults"])
    return Usage(minute=minute, day=day)


# --- Firestore's typed JSON values ---------------------------------------------------------------

def encode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    return {key: encode_value(value) for key, value in fields.items()}


def encode_value(value: Any) -> dict[str, Any]:
    """A Python value as a Firestore REST `Value`."""
    if value is None:
        return {"nullValue": None}
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"integerValue": str(value)}
    if isinstance(value, float):
        if math.isfinite(value):
            return {"doubleValue": value}
        return {"doubleValue": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, dt.datetime):
        return {"timestampValue": value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    if isinstance(value, dict):
        return {"mapValue": {"fields": encode_fields(value)}}
    if isinstance(value, list | tuple):
        return {"arrayValue": {"values": [encode_value(v) for v in value]}}
    raise TypeError(f"no Firestore value for {type(value).__name__}")


def decode_fields(fields: dict[str, Any] | None) -> dict[str, Any]:
    return {key: decode_value(value) for key, value in (fields or {}).items()}


def decode_value(value: dict[str, Any]) -> Any:
    """A Firestore REST `Value` as the Python type google-cloud-firestore gives for it."""
    if "stringValue" in value:
        return value["stringValue"]
    if "mapValue" in value:
        return decode_fields(value["mapValue"].get("fields"))
    if "integerValue" in value:
        return int(value["integerValue"])
    if "doubleValue" in value:
        return float(value["doubleValue"])  # also "NaN", "Infinity", "-Infinity"
    if "booleanValue" in value:
        return bool(value["booleanValue"])
    if "nullValue" in value:
        return None
    if "timestampValue" in value:
        return _timestamp(value["timestampValue"])
    if "arrayValue" in value:
        return [decode_value(v) for v in value["arrayValue"].get("values") or []]
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    if "referenceValue" in value:
        return DocumentReference(value["referenceValue"])
    if "geoPointValue" in value:
        point = value["geoPointValue"]
        return GeoPoint(float(point.get("latitude", 0.0)), float(point.get("longitude", 0.0)))
    raise ValueError(f"unknown Firestore value {sorted(value)}")


def _timestamp(text: str) -> dt.datetime:
    """RFC 3339 with up to nanoseconds (Python keeps microseconds)."""
    head, _, fraction = text.rstrip("Z").partition(".")
    stamp = dt.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    return stamp.replace(microsecond=int((fraction + "000000")[:6])) if fraction else stamp
