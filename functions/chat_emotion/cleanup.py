"""Anonymous accounts nobody uses any more: their messages and the account itself deleted.

Anonymous sign-in is one free call, so an owner's project fills with accounts whose person has
reinstalled, switched phones or gone: each keeps its messages in Firestore (billed storage)
forever, and no one can ever sign back into it (an anonymous account has no credential but the
refresh token on the one device). With ANONYMOUS_IDLE_DAYS = N (main.py's param; 0 turns it
off) the scheduled sweep deletes, once a day, every anonymous account idle for N days:

  * anonymous: no sign-in provider linked (no email, phone or federated identity); an account
    that linked one later is kept, whatever its age;
  * idle: neither a sign-in nor a token refresh (the app refreshes its token every hour it runs)
    for N days, and no message created in them either.

Its messages go first (`recursive_delete` of users/{uid}: the messages and anything under it),
then the account (Firebase Auth's batch delete), so a run that dies half-way leaves an idle
account that the next run finishes. A person coming back after that finds the app signed out
(mobile_app.auth: "This account no longer exists: sign in again."), a new account, and no history.

Once a day, not every sweep: listing every account costs one Auth call per 1,000 users, so the
sweep asks `due` first (one read of `system/anonymousCleanup`, the last run's time, claimed with a
precondition so two overlapping sweeps do not both run it). Rules give clients no access to it.

By hand: `python -m chat_emotion.cleanup --project PROJECT --idle-days 30 [--dry-run]`; against
the emulators set FIRESTORE_EMULATOR_HOST and FIREBASE_AUTH_EMULATOR_HOST.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chat_emotion import logs as logger

MARKER = "system/anonymousCleanup"
EVERY = dt.timedelta(days=1)
_DELETE_BATCH = 1000  # Firebase Auth's limit per delete_users call


@dataclass(frozen=True)
class Account:
    """What the cleanup needs of an Auth user record (firebase_admin.auth.ExportedUserRecord)."""

    uid: str
    anonymous: bool
    last_active: dt.datetime

    @classmethod
    def from_record(cls, record: Any) -> Account:
        meta = record.user_metadata
        stamps = (meta.creation_timestamp, meta.last_sign_in_timestamp, meta.last_refresh_timestamp)
        last = max((stamp for stamp in stamps if stamp), default=0)
        anonymous = not record.provider_data and not record.email and not record.phone_number
        return cls(record.uid, anonymous, dt.datetime.fromtimestamp(last / 1000, dt.UTC))


@dataclass
class Report:
    deleted: list[str] = field(default_factory=list)
    """uids whose messages and account were deleted (or would be, on a dry run)."""
    kept_by_message: int = 0
    """idle by Auth's record, kept for a message created within the idle period."""


def idle_candidates(accounts: Iterable[Account], cutoff: dt.datetime) -> list[str]:
    """Anonymous accounts last active before `cutoff`, by Auth's record alone."""
    return [a.uid for a in accounts if a.anonymous and a.last_active < cutoff]


def _newest_message(client: Any, uid: str) -> dt.datetime | None:
    from google.cloud.firestore_v1 import Query

    newest = client.collection(f"users/{uid}/messages").order_by(
        "createdAt", direction=Query.DESCENDING).limit(1).get()
    if not newest:
        return None
    created = newest[0].get("createdAt")
    return created if isinstance(created, dt.datetime) else None


def clean_up(client: Any, app: Any, idle_days: int, *, now: dt.datetime | None = None,
             dry_run: bool = False) -> Report:
    """Delete the messages and the accounts of anonymous users idle for `idle_days` days
    (`client`: google-cloud-firestore; `app`: a firebase_admin App, see `admin_app`)."""
    from firebase_admin import auth

    now = now or dt.datetime.now(dt.UTC)
    cutoff = now - dt.timedelta(days=idle_days)
    report = Report()
    accounts = (Account.from_record(r) for r in auth.list_users(app=app).iterate_all())
    for uid in idle_candidates(accounts, cutoff):
        newest = _newest_message(client, uid)
        if newest is not None and newest >= cutoff:
            report.kept_by_message += 1
            continue
        report.deleted.append(uid)
        if not dry_run:
            client.recursive_delete(client.document(f"users/{uid}"))
    if not dry_run:
        for start in range(0, len(report.deleted), _DELETE_BATCH):
            result = auth.delete_users(report.deleted[start:start + _DELETE_BATCH], app=app)
            for error in result.errors:  # left for the next run, which finds the account idle still
                logger.warn("anonymous account not deleted", code="CLEANUP_FAILED", reason=str(error.reason))
    return report


def due(client: Any, now: dt.datetime | None = None, every: dt.timedelta = EVERY) -> bool:
    """True once per `every` across all sweeps: this caller then owns the run (compare-and-set)."""
    from google.api_core import exceptions

    now = now or dt.datetime.now(dt.UTC)
    marker = client.document(MARKER)
    snapshot = marker.get()
    last = snapshot.get("lastRun") if snapshot.exists else None
    if isinstance(last, dt.datetime) and now - last < every:
        return False
    try:
        if snapshot.exists:
            marker.update({"lastRun": now}, option=client.write_option(last_update_time=snapshot.update_time))
        else:
            marker.create({"lastRun": now})
    except (exceptions.FailedPrecondition, exceptions.Conflict):  # Conflict: AlreadyExists, on create
        return False  # another sweep took this run
    return True


def admin_app(project: str) -> Any:
    """A firebase_admin App for `project`: the function's service account in the cloud, the Auth
    emulator's stand-in credentials under FIREBASE_AUTH_EMULATOR_HOST."""
    import firebase_admin

    name = f"cleanup-{project}"
    try:
        return firebase_admin.get_app(name)
    except ValueError:
        return firebase_admin.initialize_app(options={"projectId": project}, name=name)


def run(client: Any, project: str, idle_days: int) -> Report | None:
    """The scheduled sweep's part: the cleanup when it is on and due, logged; None when not run."""
    if idle_days <= 0 or not due(client):
        return None
    try:
        report = clean_up(client, admin_app(project), idle_days)
    except Exception as err:  # the sweep's recovery is done: log this part's failure, try tomorrow
        logger.error("anonymous cleanup failed", code="CLEANUP_FAILED", error=type(err).__name__,
                     reason=str(err)[:300])
        return None
    logger.info("anonymous cleanup", code="ANONYMOUS_CLEANUP", idleDays=idle_days,
                deleted=len(report.deleted), keptByMessage=report.kept_by_message)
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chat_emotion.cleanup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=os.environ.get("GCLOUD_PROJECT"),
                        help="Firebase project id [GCLOUD_PROJECT]")
    parser.add_argument("--idle-days", type=int, default=int(os.environ.get("ANONYMOUS_IDLE_DAYS", "30")),
                        help="days without sign-in, token refresh or message "
                             "[ANONYMOUS_IDLE_DAYS, default 30]")
    parser.add_argument("--dry-run", action="store_true", help="list the accounts, delete nothing")
    args = parser.parse_args(argv)
    if not args.project:
        parser.error("--project (or GCLOUD_PROJECT) is required")
    if args.idle_days <= 0:
        parser.error("--idle-days must be at least 1")
    from chat_emotion.repository import FirestoreRepository

    client = FirestoreRepository.for_database(args.project).client
    report = clean_up(client, admin_app(args.project), args.idle_days, dry_run=args.dry_run)
    for uid in report.deleted:
        print(uid)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(report.deleted)} idle anonymous account(s) and their messages; "
          f"{report.kept_by_message} kept for a recent message")


if __name__ == "__main__":
    main()
