"""firestore.rules in the official emulator, for the writes the function's contract depends on:
owners create (the app's `:commit` with a REQUEST_TIME transform) and read their own messages
with exactly text, model and createdAt; nobody else can, and no client writes status or emotion."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.firestore_rest import commit_create, encode, get_document
from tests.support.servers import FirestoreEmulator
from tests.support.text_cases import CASES, TextCase

pytestmark = pytest.mark.emulator

PATH = "users/alice/messages/m1"
GOOD = {"text": "hello there", "model": "default"}


def test_owner_creates_and_reads_own_message(firestore: FirestoreEmulator) -> None:
    status, body = commit_create(firestore, PATH, GOOD, firestore.user_headers("alice"))
    assert status == 200, body
    status, doc = get_document(firestore, PATH, firestore.user_headers("alice"))
    assert status == 200 and doc["text"] == "hello there" and "createdAt" in doc


def test_retry_of_the_same_message_id_creates_nothing_new(firestore: FirestoreEmulator) -> None:
    assert commit_create(firestore, PATH, GOOD, firestore.user_headers("alice"))[0] == 200
    status, _ = commit_create(firestore, PATH, {**GOOD, "text": "changed"}, firestore.user_headers("alice"))
    assert status != 200  # exists=false: the retry is refused, the app treats that as delivered
    assert get_document(firestore, PATH)[1]["text"] == "hello there"


@pytest.mark.parametrize(("uid", "path"), [
    ("mallory", PATH),                          # someone else's tree
    (None, PATH),                               # not signed in
])
def test_others_cannot_create(firestore: FirestoreEmulator, uid: str | None, path: str) -> None:
    headers = firestore.user_headers(uid) if uid else {}
    assert commit_create(firestore, path, GOOD, headers)[0] == 403


@pytest.mark.parametrize("fields", [
    {**GOOD, "status": {"state": "COMPLETED"}},
    {**GOOD, "emotion": {"label": "joy", "score": 1.0}},
    {**GOOD, "extra": "x"},
    {"text": "no model"},
    {**GOOD, "text": ""},
    {**GOOD, "text": "a" * 2001},
    {**GOOD, "text": 42},
    {**GOOD, "model": ""},
], ids=["status", "emotion", "extra key", "no model", "empty text", "long text", "text not string",
        "empty model"])
def test_owner_cannot_create_invalid_message(firestore: FirestoreEmulator, fields: dict[str, Any]) -> None:
    assert commit_create(firestore, PATH, fields, firestore.user_headers("alice"))[0] == 403


def test_created_at_must_be_the_server_time(firestore: FirestoreEmulator) -> None:
    fields = {**GOOD, "createdAt": "2020-01-01T00:00:00Z"}
    status, _ = commit_create(firestore, PATH, fields, firestore.user_headers("alice"), server_time=None)
    assert status == 403


@pytest.mark.parametrize("field", ["status", "emotion", "text"])
def test_no_client_updates_a_message(firestore: FirestoreEmulator, field: str) -> None:
    assert commit_create(firestore, PATH, GOOD, firestore.user_headers("alice"))[0] == 200
    before = get_document(firestore, PATH)[1]
    url = f"{firestore.documents_url}/{PATH}?updateMask.fieldPaths={field}"
    body = {"fields": {field: encode({"state": "COMPLETED"} if field != "text" else "edited")}}
    assert firestore.request("PATCH", url, body, firestore.user_headers("alice"))[0] == 403
    assert get_document(firestore, PATH)[1] == before


def test_only_the_owner_reads_and_deletes(firestore: FirestoreEmulator) -> None:
    assert commit_create(firestore, PATH, GOOD, firestore.user_headers("alice"))[0] == 200
    assert get_document(firestore, PATH, firestore.user_headers("mallory"))[0] == 403
    url = f"{firestore.documents_url}/{PATH}"
    assert firestore.request("DELETE", url, headers=firestore.user_headers("mallory"))[0] == 403
    assert firestore.request("DELETE", url, headers=firestore.user_headers("alice"))[0] == 200


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rules_accept_exactly_the_contracts_texts(firestore: FirestoreEmulator, case: TextCase) -> None:
    """The boundary texts the app (tests/app/test_messages.py) and the function (test_text.py) are
    held to: length in UTF-16 units, and nothing made only of invisible characters."""
    fields = {**GOOD, "text": case.text}
    status, body = commit_create(firestore, PATH, fields, firestore.user_headers("alice"))
    assert status == (200 if case.ok else 403), body


def test_the_owner_can_require_a_non_anonymous_sign_in(tmp_path) -> None:
    from tests.support.servers import REPO_ROOT, why_no_firestore_emulator

    if why_no_firestore_emulator():
        pytest.skip(why_no_firestore_emulator())
    switch = "function anonymousAllowed() {\n      return true;"
    shipped = (REPO_ROOT / "firestore.rules").read_text()
    assert switch in shipped  # the switch DEPLOY.md names, on by default (the suite signs in anonymously)
    strict = tmp_path / "firestore.rules"
    strict.write_text(shipped.replace(switch, "function anonymousAllowed() {\n      return false;"))
    with FirestoreEmulator(rules=strict) as emulator:
        anonymous = emulator.user_headers("alice")
        assert commit_create(emulator, PATH, GOOD, anonymous)[0] == 403
        email = emulator.user_headers("alice", provider="password")
        assert commit_create(emulator, PATH, GOOD, email)[0] == 200
        assert get_document(emulator, PATH, email)[0] == 200
        assert get_document(emulator, PATH, anonymous)[0] == 403
