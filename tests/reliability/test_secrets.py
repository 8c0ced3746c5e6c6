"""Secrets: no key, token, private key or service account in the repository, and none in the logs.

The scan reads every tracked file (`git ls-files`). Allowed: documented test fixtures only, each
with its reason (unsigned emulator tokens, `alg: none` with an empty signature, are not secrets,
and the scan does not match them: it looks for signed JWTs). The log checks drive the app's REST
client and the function with a recognisable token in flight and look for it in every log line.
"""

from __future__ import annotations

import logging
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT

# Built from pieces so this file never matches its own patterns.
_B, _E = "-----BEGIN", "-----"
PATTERNS: dict[str, re.Pattern[str]] = {
    "private key": re.compile(_B + r" (?:[A-Z]+ )*PRIVATE KEY" + _E),
    "service account JSON": re.compile(r'"type"\s*:\s*"service_account"'),
    "service account private_key_id": re.compile(r'"private_key_id"\s*:\s*"[0-9a-f]{40}"'),
    "Google API key": re.compile(r"AIza[0-9A-Za-z_\-]{35}"),
    "Google OAuth access token": re.compile(r"\bya29\.[0-9A-Za-z_\-]{20,}"),
    "Google refresh token": re.compile(r"\b1//0[0-9A-Za-z_\-]{30,}"),
    "OAuth client secret": re.compile(r"GOCSPX-[0-9A-Za-z_\-]{20,}"),
    "signed JWT (an ID token)": re.compile(
        r"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{20,}"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(r"\bgh[pousr]_[0-9A-Za-z]{36}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[0-9A-Za-z\-]{10,}"),
    "password assignment": re.compile(r"(?i)\b(?:password|passwd|secret)\s*[:=]\s*['\"][^'\"\s]{8,}['\"]"),
}
# Files that must never be tracked: the app's per-project config (git ignores it) and credentials.
# functions/.env.<project> and .firebaserc hold no secret (params, a project id; docs/DEPLOY.md
# lets a team commit them): their content is scanned like any file.
FORBIDDEN_FILES = re.compile(
    r"(^|/)(firebase-app\.json|google-services\.json|GoogleService-Info\.plist|"
    r"service[-_]?account[^/]*\.json|[^/]*-firebase-adminsdk-[^/]*\.json|credentials\.json|"
    r"\.runtimeconfig\.json|\.secret\.local|[^/]*\.(pem|p12|key|keystore|jks))$")
# Documented exceptions: (path, finding) -> why it is not a secret. Empty today.
ALLOWED: dict[tuple[str, str], str] = {}
MAX_BYTES = 2_000_000


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True)
    return [p for p in out.stdout.decode().split("\0") if p]


def scan_text(text: str) -> list[str]:
    return [name for name, pattern in PATTERNS.items() if pattern.search(text)]


def findings(paths: list[str]) -> list[tuple[str, str]]:
    found = []
    for rel in paths:
        path = REPO_ROOT / rel
        if FORBIDDEN_FILES.search(rel):
            found.append((rel, "credential or per-project config file is tracked"))
        if not path.is_file() or path.stat().st_size > MAX_BYTES:
            continue
        raw = path.read_bytes()
        if b"\0" in raw[:8192]:
            continue  # binary (models, images): no text secrets to find
        found += [(rel, name) for name in scan_text(raw.decode("utf-8", errors="replace"))]
    return [f for f in found if f not in ALLOWED]


def test_no_secret_in_any_tracked_file() -> None:
    paths = tracked_files()
    assert len(paths) > 50  # the scan really saw the repository
    assert findings(paths) == []


def test_allowed_exceptions_still_exist() -> None:
    # A stale allowance would silently excuse a new secret at the same path.
    tracked = set(tracked_files())
    assert all(path in tracked for path, _ in ALLOWED)


def _plant(name: str) -> str:
    samples = {
        "private key": _B + " RSA PRIVATE KEY" + _E + "\nMIIEow\n",
        "service account JSON": '{"type": "service_' + 'account", "project_id": "p"}',
        "Google API key": "apiKey: " + "AIza" + "Sy" + "A" * 33,
        "signed JWT (an ID token)": "Bearer " + "eyJ" + "h" * 20 + ".eyJ" + "p" * 30 + "." + "s" * 43,
    }
    return samples[name]


@pytest.mark.parametrize("name", ["private key", "service account JSON", "Google API key",
                                  "signed JWT (an ID token)"])
def test_the_scan_finds_a_planted_secret(tmp_path: Path, name: str) -> None:
    assert name in scan_text(_plant(name))


def test_the_scan_finds_a_planted_file_in_the_index(tmp_path: Path) -> None:
    """End to end through git: a service-account file added to a repository's index is found."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "sa.json").write_text(_plant("service account JSON"))
    subprocess.run(["git", "-C", str(tmp_path), "add", "sa.json"], check=True)
    listed = subprocess.run(["git", "-C", str(tmp_path), "ls-files"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert listed == ["sa.json"]
    assert scan_text((tmp_path / "sa.json").read_text()) == ["service account JSON"]
    assert FORBIDDEN_FILES.search("keys/my-project-firebase-adminsdk-abc12.json")
    assert FORBIDDEN_FILES.search("mobile_app/firebase-app.json")
    assert not FORBIDDEN_FILES.search("functions/.env.my-emotion-project")


def test_unsigned_emulator_tokens_are_not_flagged() -> None:
    from tests.support.servers import unsigned_id_token

    assert scan_text(unsigned_id_token("alice", "demo-emotion")) == []


# --- logs ------------------------------------------------------------------------------------

TOKEN = "eyJhbGciOiJSUzI1NiJ9." + "eyJzdWIiOiJhbGljZSJ9" + "." + "S" * 86  # shaped like a real ID token
REFRESH = "AMf-vBx" + "R" * 60


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG (urllib3 logs each request line, requests its retries)."""
    caplog.set_level(logging.DEBUG)
    yield caplog


def test_the_apps_client_never_logs_or_shows_a_token(all_logs: pytest.LogCaptureFixture) -> None:
    from mobile_app.firestore_rest import FirestoreClient, FirestoreError
    from tests.app.scripted_server import ScriptedServer, rpc_error

    class Tokens:
        def uid(self) -> str:
            return "alice"

        def id_token(self) -> str:
            return TOKEN

        def refresh(self) -> str:
            return TOKEN

    answers = iter([rpc_error(401, "UNAUTHENTICATED", "token expired"), rpc_error(401, "UNAUTHENTICATED"),
                    rpc_error(500, "INTERNAL", "boom"), (0, None), rpc_error(403, "PERMISSION_DENIED")])
    shown: list[str] = []
    with ScriptedServer(lambda req: next(answers)) as server:
        client = FirestoreClient(server.url, "p", Tokens())
        for _ in range(4):
            with pytest.raises(FirestoreError) as err:
                client.create_message("m1", "hi", "default")
            shown += [str(err.value), err.value.human(), repr(err.value)]
            logging.getLogger("mobile_app.sync").exception("sync round failed; retrying later",
                                                           exc_info=err.value)
        assert all(s.headers["Authorization"] == f"Bearer {TOKEN}" for s in server.seen)  # it was in flight
    text = "\n".join(shown) + "\n" + all_logs.text
    assert TOKEN not in text and "Bearer" not in text
    assert "eyJ" not in text


def test_the_apps_sign_in_errors_never_carry_tokens(tmp_path: Path,
                                                    all_logs: pytest.LogCaptureFixture) -> None:
    from mobile_app.auth import AuthError, FirebaseAuth
    from tests.app.scripted_server import ScriptedServer

    def route(req: object) -> tuple[int, object]:
        if "signUp" in req.path:  # type: ignore[attr-defined]
            return 200, {"idToken": TOKEN, "refreshToken": REFRESH, "expiresIn": "3600", "localId": "u1"}
        return 400, {"error": {"message": "TOKEN_EXPIRED"}}

    with ScriptedServer(route) as server:
        auth = FirebaseAuth("fake-api-key", server.url, server.url, tmp_path / "session.json")
        auth.sign_in_anonymously()
        with pytest.raises(AuthError) as err:
            auth.refresh()
    text = f"{err.value}\n{err.value!r}\n{all_logs.text}"
    assert TOKEN not in text and REFRESH not in text


def test_the_functions_log_carries_no_token_or_text(function_app: object, monkeypatch: pytest.MonkeyPatch,
                                                    capfd: pytest.CaptureFixture[str], model_store: object,
                                                    install_service: object) -> None:
    from chat_emotion.quota import Limits

    from tests.function.conftest import PROJECT, UNUSED_FIRESTORE
    from tests.support.cloudevents import created_event
    from tests.support.memory_repository import MemoryRepository

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", UNUSED_FIRESTORE)
    repo = MemoryRepository()
    install_service(repo, model_store, limits=Limits(per_minute=3, per_day=100))  # type: ignore[operator]
    secret_text = f"my token is {TOKEN} and my key {REFRESH}"
    # Every outcome that logs: classified, refused for its text, unknown model, rate-limited.
    documents = {"m1": {"text": secret_text, "model": "default"},
                 "m2": {"text": secret_text * 40, "model": "default"},
                 "m3": {"text": secret_text, "model": "nosuchmodel"},
                 "m4": {"text": secret_text, "model": "default"}}
    for message_id, fields in documents.items():
        path = f"users/alice/messages/{message_id}"
        repo.create(path, fields)
        headers, body = created_event(path, fields, project=PROJECT)
        headers["Authorization"] = f"Bearer {TOKEN}"  # Eventarc's own token on the push request
        response = function_app.test_client().post("/", headers=headers, data=body)  # type: ignore[attr-defined]
        assert response.status_code == 200
    states = {m: repo.get(f"users/alice/messages/{m}")["status"] for m in documents}
    assert states["m1"]["state"] == "COMPLETED"
    assert [states[m]["error"]["code"] for m in ("m2", "m3", "m4")] == [
        "TEXT_TOO_LONG", "MODEL_UNKNOWN", "RATE_LIMITED"]
    out = capfd.readouterr()
    logged = out.out + out.err
    for code in ("OK", "TEXT_TOO_LONG", "MODEL_UNKNOWN", "RATE_LIMITED"):
        assert f'"code": "{code}"' in logged
    assert "my token is" not in logged
    assert TOKEN not in logged and REFRESH not in logged and "Bearer" not in logged
