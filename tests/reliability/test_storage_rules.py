"""storage.rules against firebase-tools' Storage emulator: the model bucket's one client read.

The function reads models through the Admin SDK / IAM, which rules do not govern. A signed-in app
may download a published artifact for labels on the device (a name's LATEST and a version's three
files, mobile_app/ondevice.py); every other client request (unauthenticated, listing, writing,
other objects) must be refused. The emulator is started with
the repository's own configuration (scripts/emulator_suite.py, the e2e tier's launcher:
`firebase emulators:start --only storage` on free ports). Where it cannot run (no firebase-tools,
no Java >= 21, or no cached `cloud-storage-rules-runtime` JAR: firebase-tools downloads it, and
these machines are offline) the matrix skips with that reason.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from scripts.emulator_suite import EmulatorSuite, storage_emulator_available, why_no_suite
from tests.support.servers import REPO_ROOT, unsigned_id_token

PROJECT = "demo-emotion-rules"
BUCKET = f"{PROJECT}.appspot.com"
MODEL = "models/tiny/v1/model.onnx"
SEEDED = (MODEL, "models/DEFAULT", "models/tiny/LATEST", "models/tiny/v1/notes.txt")


@dataclass(frozen=True)
class Case:
    id: str
    caller: str | None  # uid; None: unauthenticated; "admin": the Admin SDK's bypass
    op: str  # get_metadata | download | upload_new | overwrite | delete | list
    allowed: bool
    name: str = MODEL


CALLERS = [(None, "unauthenticated"), ("alice", "signed-in")]
OPS = ["get_metadata", "download", "upload_new", "overwrite", "delete", "list"]
# Signed in, `get` of an artifact file is the one grant (it covers the download and its metadata).
CASES = [Case(f"{label}-{op}", caller, op, caller is not None and op in ("get_metadata", "download"))
         for caller, label in CALLERS for op in OPS] + [
    Case("signed-in-uploads-to-own-folder", "alice", "upload_new", False, name="users/alice/avatar.png"),
    Case("signed-in-reads-the-default-pointer", "alice", "download", False, name="models/DEFAULT"),
    Case("signed-in-reads-a-latest-pointer", "alice", "download", True, name="models/tiny/LATEST"),
    Case("unauthenticated-reads-a-latest-pointer", None, "download", False, name="models/tiny/LATEST"),
    Case("signed-in-reads-another-file-of-a-version", "alice", "download", False,
         name="models/tiny/v1/notes.txt"),
    # Controls: the same requests work with Admin privileges, so a refusal above is the rules'.
    Case("admin-downloads", "admin", "download", True),
    Case("admin-uploads", "admin", "upload_new", True, name="models/tiny/v2/model.onnx"),
]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    reason = why_no_suite(need_functions=False)
    if reason:
        pytest.skip(reason)
    if not storage_emulator_available() and os.environ.get("CE_ONLINE") != "1":
        pytest.skip("firebase-tools' Storage emulator needs its cloud-storage-rules-runtime JAR, a download "
                    "that is not cached here (set STORAGE_EMULATOR_BINARY_PATH, or CE_ONLINE=1 online)")
    suite = EmulatorSuite(project=PROJECT, only=("storage",), ports="free", tag=f"rules-{os.getpid()}",
                          log_path=tmp_path_factory.mktemp("storage-rules") / "emulators.log")
    suite.start()
    try:
        if "storage" not in suite.only:
            pytest.skip("; ".join(suite.notes))
        yield f"http://{suite.host('storage')}"
    finally:
        suite.stop()


def _headers(caller: str | None) -> dict[str, str]:
    if caller is None:
        return {}
    if caller == "admin":
        return {"Authorization": "Bearer owner"}
    return {"Authorization": f"Bearer {unsigned_id_token(caller, PROJECT)}"}


def _request(method: str, url: str, caller: str | None, data: bytes | None = None) -> int:
    headers = {**_headers(caller), "Content-Type": "application/octet-stream"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _object_url(base: str, name: str) -> str:
    return f"{base}/v0/b/{BUCKET}/o/{urllib.parse.quote(name, safe='')}"


def _upload(base: str, name: str, caller: str | None) -> int:
    url = f"{base}/v0/b/{BUCKET}/o?{urllib.parse.urlencode({'name': name})}"
    return _request("POST", url, caller, data=b"\x08\x07onnx-bytes")


def _run(base: str, case: Case) -> int:
    for seeded in SEEDED:
        assert _upload(base, seeded, "admin") == 200, "seeding through the admin bypass failed"
    if case.op == "get_metadata":
        return _request("GET", _object_url(base, case.name), case.caller)
    if case.op == "download":
        return _request("GET", _object_url(base, case.name) + "?alt=media", case.caller)
    if case.op == "upload_new":
        return _upload(base, case.name if case.name != MODEL else "models/evil/v1/model.onnx", case.caller)
    if case.op == "overwrite":
        return _upload(base, case.name, case.caller)
    if case.op == "delete":
        return _request("DELETE", _object_url(base, case.name), case.caller)
    if case.op == "list":
        return _request("GET", f"{base}/v0/b/{BUCKET}/o?prefix=models%2F", case.caller)
    raise AssertionError(f"unknown op {case.op}")


@pytest.mark.e2e
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_storage_rules(storage: str, case: Case) -> None:
    status = _run(storage, case)
    if case.allowed:
        assert status == 200, f"{case.id}: expected allowed, got HTTP {status}"
    else:
        assert status in (401, 403), f"{case.id}: expected refused, got HTTP {status}"


def test_storage_rules_file_is_the_one_deployed_and_grants_only_signed_in_gets() -> None:
    """Runs everywhere: firebase.json deploys storage.rules; besides `if false`, its only grants
    are signed-in `get`s of models/ (no list, no write)."""
    config = json.loads((REPO_ROOT / "firebase.json").read_text())
    storage_config = config["storage"]
    rules_files = [s["rules"] for s in storage_config] if isinstance(storage_config, list) \
        else [storage_config["rules"]]
    assert rules_files == ["storage.rules"]
    text = re.sub(r"//[^\n]*", "", (REPO_ROOT / "storage.rules").read_text())
    assert "service firebase.storage" in text
    grants = [re.sub(r"\s+", " ", g) for g in re.findall(r"allow\s+([^;]+);", text)]
    assert grants[0] == "read, write: if false"
    assert grants[1:] == ["get: if request.auth != null",
                          "get: if request.auth != null && file in ['manifest.json', 'model.onnx', "
                          "'tokenizer.json']"]
