"""firestore.rules, case by case, against the official emulator (DESIGN.md / README "Contracts").

Each case is one request over the REST API as a given caller; the expectation is the HTTP
outcome the rules must give. "owner" below is the Admin SDK's bypass (the function's writes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

pytestmark = pytest.mark.emulator

ALICE, BOB = "alice", "bob"
REQUEST_TIME = [{"fieldPath": "createdAt", "setToServerValue": "REQUEST_TIME"}]


def s(text: str) -> dict:
    return {"stringValue": text}


VALID = {"text": s("i feel great today"), "model": s("default")}


@dataclass(frozen=True)
class Case:
    id: str
    caller: str | None  # uid, None = unauthenticated, "admin" = Admin SDK bypass
    op: str  # create | get | list | update | delete | create_elsewhere | collection_group
    allowed: bool
    fields: dict = field(default_factory=lambda: dict(VALID))
    transforms: list = field(default_factory=lambda: list(REQUEST_TIME))
    path: str = "users/alice/messages/m1"


CASES = [
    # --- create: who ---
    Case("owner-creates-valid", ALICE, "create", True),
    Case("unauthenticated-create", None, "create", False),
    Case("other-user-creates-in-alices-tree", BOB, "create", False),
    # --- create: exactly the allowed keys ---
    Case("extra-key", ALICE, "create", False, fields={**VALID, "extra": s("x")}),
    Case("forged-status", ALICE, "create", False,
         fields={**VALID, "status": {"mapValue": {"fields": {"state": s("COMPLETED")}}}}),
    Case("forged-emotion", ALICE, "create", False,
         fields={**VALID, "emotion": {"mapValue": {"fields": {"label": s("joy")}}}}),
    Case("missing-text", ALICE, "create", False, fields={"model": s("default")}),
    Case("missing-model", ALICE, "create", False, fields={"text": s("hello")}),
    Case("missing-createdAt", ALICE, "create", False, transforms=[]),
    Case("client-chosen-createdAt", ALICE, "create", False, transforms=[],
         fields={**VALID, "createdAt": {"timestampValue": "2020-01-01T00:00:00Z"}}),
    # --- create: types and sizes ---
    Case("text-empty", ALICE, "create", False, fields={**VALID, "text": s("")}),
    Case("text-1-char", ALICE, "create", True, fields={**VALID, "text": s("a")}),
    Case("text-2000-chars", ALICE, "create", True, fields={**VALID, "text": s("a" * 2000)}),
    Case("text-2001-chars", ALICE, "create", False, fields={**VALID, "text": s("a" * 2001)}),
    Case("text-non-ascii", ALICE, "create", True, fields={**VALID, "text": s("¡qué día! مرحبا 😀")}),
    Case("text-integer", ALICE, "create", False, fields={**VALID, "text": {"integerValue": "5"}}),
    Case("text-null", ALICE, "create", False, fields={**VALID, "text": {"nullValue": None}}),
    Case("text-map", ALICE, "create", False,
         fields={**VALID, "text": {"mapValue": {"fields": {"a": s("b")}}}}),
    Case("text-array", ALICE, "create", False,
         fields={**VALID, "text": {"arrayValue": {"values": [s("hi")]}}}),
    Case("model-integer", ALICE, "create", False, fields={**VALID, "model": {"integerValue": "1"}}),
    Case("model-empty", ALICE, "create", False, fields={**VALID, "model": s("")}),
    Case("model-65-chars", ALICE, "create", False, fields={**VALID, "model": s("m" * 65)}),
    Case("model-named", ALICE, "create", True, fields={**VALID, "model": s("bert")}),
    # --- create elsewhere ---
    Case("root-collection", ALICE, "create", False, path="messages/m1"),
    Case("user-document-itself", ALICE, "create", False, path="users/alice"),
    Case("subcollection-under-message", ALICE, "create", False, path="users/alice/messages/m1/x/y"),
    Case("other-collection-under-user", ALICE, "create", False, path="users/alice/notes/n1"),
    # --- reads ---
    Case("owner-gets-own", ALICE, "get", True),
    Case("other-user-gets", BOB, "get", False),
    Case("unauthenticated-get", None, "get", False),
    Case("owner-lists-own", ALICE, "list", True),
    Case("other-user-lists", BOB, "list", False),
    Case("collection-group-query", ALICE, "collection_group", False),
    # --- updates: results belong to the function ---
    Case("owner-updates-text", ALICE, "update", False, fields={"text": s("edited")}),
    Case("owner-forges-status", ALICE, "update", False,
         fields={"status": {"mapValue": {"fields": {"state": s("COMPLETED")}}}}),
    Case("owner-forges-emotion", ALICE, "update", False,
         fields={"emotion": {"mapValue": {"fields": {"label": s("joy")}}}}),
    Case("other-user-updates", BOB, "update", False, fields={"text": s("x")}),
    Case("admin-writes-status", "admin", "update", True,
         fields={"status": {"mapValue": {"fields": {"state": s("COMPLETED")}}}}),
    Case("owner-recreates-existing", ALICE, "create_existing", False),
    # --- deletes ---
    Case("owner-deletes-own", ALICE, "delete", True),
    Case("other-user-deletes", BOB, "delete", False),
    Case("unauthenticated-delete", None, "delete", False),
]


def _headers(emulator, caller: str | None) -> dict:
    if caller is None:
        return {}
    if caller == "admin":
        return dict(emulator.admin_headers)
    return emulator.user_headers(caller)


def _doc_name(emulator, path: str) -> str:
    return f"projects/{emulator.project}/databases/(default)/documents/{path}"


def _commit(emulator, caller, write: dict) -> int:
    url = f"{emulator.documents_url}:commit"
    status, _ = emulator.request("POST", url, {"writes": [write]}, _headers(emulator, caller))
    return status


def _create(emulator, caller, path, fields, transforms) -> int:
    write = {"update": {"name": _doc_name(emulator, path), "fields": fields},
             "currentDocument": {"exists": False}}
    if transforms:
        write["updateTransforms"] = transforms
    return _commit(emulator, caller, write)


def _seed(emulator) -> None:
    status = _create(emulator, "admin", "users/alice/messages/m1", VALID, REQUEST_TIME)
    assert status == 200, "seeding through the admin bypass failed"


def _run(emulator, case: Case) -> int:
    if case.op == "create":
        return _create(emulator, case.caller, case.path, case.fields, case.transforms)
    _seed(emulator)
    url = f"{emulator.documents_url}/{case.path}"
    headers = _headers(emulator, case.caller)
    if case.op == "create_existing":
        return _create(emulator, case.caller, case.path, VALID, REQUEST_TIME)
    if case.op == "get":
        return emulator.request("GET", url, headers=headers)[0]
    if case.op == "list":
        return emulator.request("GET", f"{emulator.documents_url}/users/alice/messages", headers=headers)[0]
    if case.op == "collection_group":
        query = {"structuredQuery": {"from": [{"collectionId": "messages", "allDescendants": True}]}}
        status, body = emulator.request("POST", f"{emulator.documents_url}:runQuery", query, headers)
        # runQuery streams: a refusal may come back as an error entry in a 200 response.
        items = body if isinstance(body, list) else [body]
        refused = status != 200 or any("error" in item for item in items)
        return 403 if refused else 200
    if case.op == "update":
        mask = "&".join(f"updateMask.fieldPaths={k}" for k in case.fields)
        return emulator.request("PATCH", f"{url}?{mask}", {"fields": case.fields}, headers)[0]
    if case.op == "delete":
        return emulator.request("DELETE", url, headers=headers)[0]
    raise AssertionError(f"unknown op {case.op}")


def test_matrix_is_wide_enough():
    assert len(CASES) >= 30
    assert {c.allowed for c in CASES} == {True, False}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rules(firestore, case: Case):
    status = _run(firestore, case)
    if case.allowed:
        assert status == 200, f"{case.id}: expected allowed, got HTTP {status}"
    else:
        # A retry of an existing id may also stop at its precondition (409): nothing written either.
        refusals = (403, 409) if case.op == "create_existing" else (403,)
        assert status in refusals, f"{case.id}: expected refused, got HTTP {status}"
