"""Idle anonymous accounts and their messages deleted (chat_emotion.cleanup), against firebase-tools'
Auth and Firestore emulators together, through its command line as an owner runs it.

Accounts are imported with their last activity in the past (the Auth emulator takes an imported
account's metadata as given), beside a fresh anonymous sign-in, an email account, and an anonymous
account that is idle by Auth's record but wrote a message within the period.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from scripts.emulator_suite import EmulatorSuite
from tests.function.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

DAY_MS = 86_400_000
DONE = {"text": "hi", "model": "default", "status": {"state": "COMPLETED"}}


def _cli(suite: EmulatorSuite, *args: str) -> str:
    env = {**os.environ, **suite.client_env()}
    out = subprocess.run([sys.executable, "-m", "chat_emotion.cleanup", "--project", suite.project, *args],
                         capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_idle_anonymous_accounts_and_their_messages_are_deleted(suite: EmulatorSuite,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import firebase_admin
    from firebase_admin import auth
    from google.cloud import firestore as gcf

    for key, value in suite.client_env().items():
        monkeypatch.setenv(key, value)
    app = firebase_admin.initialize_app(options={"projectId": suite.project}, name="cleanup-test")
    try:
        now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
        old = auth.UserMetadata(creation_timestamp=now_ms - 90 * DAY_MS,
                                last_sign_in_timestamp=now_ms - 60 * DAY_MS)
        result = auth.import_users([
            auth.ImportUserRecord("gone-1", user_metadata=old),
            auth.ImportUserRecord("gone-2", user_metadata=old),
            auth.ImportUserRecord("wrote-lately", user_metadata=old),
            auth.ImportUserRecord("has-email", email="kept@example.com", user_metadata=old),
        ], app=app)
        assert result.failure_count == 0, [e.reason for e in result.errors]
        fresh, _ = suite.sign_up_anonymously()

        client = gcf.Client(project=suite.project)
        long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=45)
        for uid in ("gone-1", "gone-2", "wrote-lately", "has-email", fresh):
            for n in range(3):
                client.document(f"users/{uid}/messages/m{n}").set(
                    {**DONE, "createdAt": long_ago})
        client.document("users/wrote-lately/messages/new").set(
            {"text": "still here", "model": "default", "createdAt": dt.datetime.now(dt.UTC)})

        def messages(uid: str) -> int:
            return len(list(client.collection(f"users/{uid}/messages").list_documents()))

        def accounts() -> set[str]:
            return {user.uid for user in auth.list_users(app=app).iterate_all()}

        before = {uid: messages(uid) for uid in ("gone-1", "gone-2", "wrote-lately", "has-email", fresh)}
        dry = _cli(suite, "--idle-days", "30", "--dry-run")
        assert sorted(dry.split()[:2]) == ["gone-1", "gone-2"] and "would delete 2" in dry
        assert "1 kept for a recent message" in dry
        assert {uid: messages(uid) for uid in before} == before and {"gone-1", "gone-2"} <= accounts()

        out = _cli(suite, "--idle-days", "30")
        assert "deleted 2 idle anonymous account(s)" in out
        assert messages("gone-1") == messages("gone-2") == 0
        assert not {"gone-1", "gone-2"} & accounts()
        assert {"wrote-lately", "has-email", fresh} <= accounts()
        assert (messages("wrote-lately"), messages("has-email"), messages(fresh)) == (4, 3, 3)
        assert "deleted 0 " in _cli(suite, "--idle-days", "30")  # nothing left to do: idempotent
    finally:
        firebase_admin.delete_app(app)


def test_the_app_of_a_deleted_account_is_told_to_sign_in_again(suite: EmulatorSuite, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import firebase_admin
    from firebase_admin import auth

    from mobile_app.auth import AuthError, FirebaseAuth
    from mobile_app.config import EMULATOR_API_KEY

    app_auth = FirebaseAuth(EMULATOR_API_KEY, f"{suite.auth_url}/identitytoolkit.googleapis.com",
                            f"{suite.auth_url}/securetoken.googleapis.com", tmp_path / "session.json")
    uid = app_auth.sign_in_anonymously().uid
    for key, value in suite.client_env().items():
        monkeypatch.setenv(key, value)
    admin = firebase_admin.initialize_app(options={"projectId": suite.project}, name="cleanup-app-test")
    try:
        assert auth.delete_users([uid], app=admin).success_count == 1  # what the cleanup calls
    finally:
        firebase_admin.delete_app(admin)
    with pytest.raises(AuthError) as refused:
        app_auth.refresh()
    # The emulator answers INVALID_REFRESH_TOKEN; Google's endpoint documents USER_NOT_FOUND.
    assert refused.value.code in ("USER_NOT_FOUND", "INVALID_REFRESH_TOKEN") and not refused.value.transient
    assert str(refused.value).endswith(": sign in again.")


def test_the_scheduled_sweep_runs_it_once_a_day(suite: EmulatorSuite, monkeypatch: pytest.MonkeyPatch,
                                                capfd: pytest.CaptureFixture[str]) -> None:
    import json

    from chat_emotion import cleanup
    from google.cloud import firestore as gcf

    for key, value in suite.client_env().items():
        monkeypatch.setenv(key, value)
    client = gcf.Client(project=suite.project)
    client.document(cleanup.MARKER).delete()
    assert cleanup.run(client, suite.project, 0) is None  # off
    report = cleanup.run(client, suite.project, 30)
    assert report is not None and report.deleted == []
    assert cleanup.run(client, suite.project, 30) is None  # done today
    logged: list[dict[str, Any]] = [json.loads(line) for line in capfd.readouterr().out.splitlines()
                                    if line.startswith("{")]
    assert [e["code"] for e in logged if e.get("code", "").startswith("ANONYMOUS")] == ["ANONYMOUS_CLEANUP"]
