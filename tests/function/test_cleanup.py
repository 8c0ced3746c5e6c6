"""chat_emotion.cleanup: which accounts count as idle anonymous ones (from Firebase Auth's own user
records), and the once-a-day claim on the Firestore emulator. The deletion itself runs against
the Auth and Firestore emulators together: tests/e2e/test_cleanup.py."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from chat_emotion import cleanup
from chat_emotion.cleanup import Account, idle_candidates
from firebase_admin.auth import ExportedUserRecord

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)


def _ms(days_ago: float) -> str:
    return str(int((NOW - dt.timedelta(days=days_ago)).timestamp() * 1000))


def _record(uid: str, **data: Any) -> Account:
    """An Account from the accounts:batchGet JSON that firebase_admin parses (its own record class)."""
    return Account.from_record(ExportedUserRecord({"localId": uid, **data}))


def test_only_anonymous_accounts_idle_past_the_cutoff_are_candidates() -> None:
    accounts = [
        _record("anon-idle", createdAt=_ms(90), lastLoginAt=_ms(90)),
        _record("anon-refreshed", createdAt=_ms(90), lastLoginAt=_ms(90),
                lastRefreshAt=(NOW - dt.timedelta(days=2)).isoformat().replace("+00:00", "Z")),
        _record("anon-new", createdAt=_ms(1), lastLoginAt=_ms(1)),
        _record("email-idle", email="a@example.com", createdAt=_ms(90), lastLoginAt=_ms(90),
                providerUserInfo=[{"providerId": "password", "rawId": "a@example.com"}]),
        _record("phone-idle", phoneNumber="+15555550100", createdAt=_ms(90)),
        _record("google-idle", createdAt=_ms(90),
                providerUserInfo=[{"providerId": "google.com", "rawId": "1"}]),
        _record("never-signed-in"),
    ]
    assert idle_candidates(accounts, NOW - dt.timedelta(days=30)) == ["anon-idle", "never-signed-in"]
    assert accounts[1].last_active == NOW - dt.timedelta(days=2)  # the token refresh counts as activity


@pytest.mark.emulator
def test_the_cleanup_is_due_once_a_day_however_many_sweeps_ask(firestore: Any,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from google.cloud import firestore as gcf

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore.host)
    client = gcf.Client(project="demo-emotion")
    answers: list[bool] = []
    barrier = threading.Barrier(4)

    def sweep() -> None:
        barrier.wait()
        answers.append(cleanup.due(client, NOW))

    threads = [threading.Thread(target=sweep) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False, False, False, True]  # overlapping sweeps: exactly one runs it
    assert not cleanup.due(client, NOW + dt.timedelta(hours=23))
    assert cleanup.due(client, NOW + dt.timedelta(hours=24))
    assert not cleanup.due(client, NOW + dt.timedelta(hours=25))
    assert client.document(cleanup.MARKER).get().get("lastRun") == NOW + dt.timedelta(hours=24)


def test_the_cli_refuses_an_idle_period_of_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cleanup.main(["--project", "p", "--idle-days", "0"])
    assert "--idle-days must be at least 1" in capsys.readouterr().err
