"""Finish messages whose run died mid-way or whose trigger never came.

Python Firestore triggers are delivered at least once but never retried, so two kinds of message
could wait forever:

  * stuck: status PROCESSING for longer than the lease (the instance was killed between its
    claim and its write-back: out of memory, a crash in native code, a deploy);
  * unprocessed: no status at all, created more than the lease ago (the delivery was lost, or
    its claim failed: CLAIM_FAILED).

`recover` finds both with collection-group queries and runs each through the same
`handler.process`: its compare-and-set claim takes over a stale lease or an empty status exactly
once (a message still in progress, or claimed meanwhile by a late delivery, is left alone) and
counts attempts, so a message that kills every instance ends as ERROR ATTEMPTS_EXHAUSTED after
`Settings.max_attempts` claims instead of being retried forever.

main.py's `recover_messages` runs it on a schedule; by hand:

    python -m chat_emotion.recovery --project PROJECT [--older-than 120] [--horizon 1800] [--dry-run]

The Functions emulator never runs scheduled functions (firebase-tools#2034), so the local stack
(`make run`, the e2e tier) runs this same code as its schedule: `--every SECONDS` sweeps until stopped.

Every flag has an environment twin (GCLOUD_PROJECT, MODEL_STORE, DEFAULT_MODEL). Against the
emulator set FIRESTORE_EMULATOR_HOST. In production both queries need collection-group indexes
on `messages.status.state` and `messages.createdAt` (fieldOverrides in firestore.indexes.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
import uuid
from pathlib import Path
from typing import Any

from chat_emotion import cleanup
from chat_emotion import logs as logger
from chat_emotion.handler import MessageEvent, Outcome, Service, Settings, process, service_for
from chat_emotion.repository import PROCESSING, FirestoreRepository
from chat_emotion.store import StoreError, open_store

HORIZON_S = 1800.0
"""How far back a run looks for messages without a status. Each run re-reads the messages created
in [now - horizon, now - lease]; the horizon is several schedule periods so a missed run loses nothing."""
LIMIT = 500
"""Messages finished per run at most (each is one classification); the rest wait for the next run."""


def find_stuck(client: Any, older_than_s: float, now: dt.datetime | None = None,
               limit: int = LIMIT) -> list[str]:
    """Paths of messages in PROCESSING whose claim started more than `older_than_s` ago."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    now = now or dt.datetime.now(dt.UTC)
    query = client.collection_group("messages").where(filter=FieldFilter("status.state", "==", PROCESSING))
    stuck = []
    for snapshot in query.stream():
        started = (snapshot.to_dict() or {}).get("status", {}).get("startTime")
        if isinstance(started, dt.datetime) and (now - started).total_seconds() > older_than_s:
            stuck.append(snapshot.reference.path)
            if len(stuck) >= limit:
                break
    return stuck


def find_unprocessed(client: Any, older_than_s: float, horizon_s: float = HORIZON_S,
                     now: dt.datetime | None = None, limit: int = LIMIT) -> list[str]:
    """Paths of messages created between `horizon_s` and `older_than_s` ago that have no status.

    Firestore cannot query for a missing field, so this reads the window by `createdAt` (set by
    the server: the rules refuse a client's own value) and keeps the documents without `status`.
    """
    from google.cloud.firestore_v1.base_query import FieldFilter

    now = now or dt.datetime.now(dt.UTC)
    query = (client.collection_group("messages")
             .where(filter=FieldFilter("createdAt", ">=", now - dt.timedelta(seconds=horizon_s)))
             .where(filter=FieldFilter("createdAt", "<", now - dt.timedelta(seconds=older_than_s)))
             .order_by("createdAt"))
    found = []
    for snapshot in query.stream():
        if "status" not in (snapshot.to_dict() or {}):
            found.append(snapshot.reference.path)
            if len(found) >= limit:
                break
    return found


def recover(service: Service, client: Any, project: str, *, dry_run: bool = False,
            horizon_s: float = HORIZON_S, limit: int = LIMIT,
            database: str = "(default)") -> dict[str, Outcome | None]:
    """Re-run every stuck or unprocessed message; {path: outcome} (None for each path in a dry run)."""
    lease = service.settings.lease_s
    paths = find_stuck(client, lease, limit=limit)
    paths += find_unprocessed(client, lease, horizon_s, limit=max(0, limit - len(paths)))
    outcomes: dict[str, Outcome | None] = {}
    for path in dict.fromkeys(paths):
        if dry_run:
            outcomes[path] = None
            continue
        event = MessageEvent(document=path, event_id=f"recovery-{uuid.uuid4()}", project=project,
                             database=database)
        try:
            outcomes[path] = process(service, event)
        except Exception:  # CLAIM_FAILED, already logged by process: the next run tries again
            outcomes[path] = None
    return outcomes


def sweep_counters(client: Any, now: dt.datetime | None = None, limit: int = LIMIT) -> int:
    """Delete rate-limit counters past their `expireAt` (chat_emotion.quota), where no Firestore
    TTL policy does it (the emulator, or a project that has not set one up); how many went."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    from chat_emotion import quota

    now = now or dt.datetime.now(dt.UTC)
    expired = client.collection(quota.COLLECTION).where(
        filter=FieldFilter("expireAt", "<", now)).limit(limit).stream()
    deleted = 0
    for snapshot in expired:
        snapshot.reference.delete()
        deleted += 1
    return deleted


def run(settings: Settings, project: str, database: str = "(default)",
        horizon_s: float = HORIZON_S, anonymous_idle_days: int = 0) -> dict[str, Outcome | None]:
    """One scheduled run (main.py's recover_messages): the instance's Service, both kinds, logged;
    then expired rate counters, and once a day idle anonymous accounts (chat_emotion.cleanup)."""
    service = service_for(settings, MessageEvent(document="", event_id="recovery", project=project,
                                                 database=database))
    client = getattr(service.repository, "client", None)
    if client is None:
        client = FirestoreRepository.for_database(project, database).client
    outcomes = recover(service, client, project, horizon_s=horizon_s, database=database)
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        key = "CLAIM_FAILED" if outcome is None else (outcome.code or outcome.state)
        counts[key] = counts.get(key, 0) + 1
    swept = sweep_counters(client)
    logger.info("recovery run", code="RECOVERY", found=len(outcomes), outcomes=counts,
                countersDeleted=swept)
    cleanup.run(client, project, anonymous_idle_days)
    return outcomes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chat_emotion.recovery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=os.environ.get("GCLOUD_PROJECT"),
                        help="Firebase project id [GCLOUD_PROJECT]")
    parser.add_argument("--older-than", type=float, default=120.0,
                        help="age (s) of a PROCESSING claim, or of a message without status, that counts "
                             "as dead (default 120: 2 x timeout)")
    parser.add_argument("--horizon", type=float, default=HORIZON_S,
                        help=f"how far back (s) to look for messages without status "
                             f"(default {HORIZON_S:.0f})")
    parser.add_argument("--store", default=os.environ.get("MODEL_STORE", "models/store"),
                        help="model store, as the function's MODEL_STORE [MODEL_STORE, default models/store]")
    parser.add_argument("--default-model", default=os.environ.get("DEFAULT_MODEL", "store"),
                        help="as the function's DEFAULT_MODEL [DEFAULT_MODEL, default store]")
    parser.add_argument("--dry-run", action="store_true", help="list the messages, change nothing")
    parser.add_argument("--every", type=float, default=None, metavar="SECONDS",
                        help="sweep again every SECONDS until stopped (the local stand-in for the "
                             "schedule); prints only the sweeps that found something")
    args = parser.parse_args(argv)
    if not args.project:
        parser.error("--project (or GCLOUD_PROJECT) is required")
    repo_root = Path(__file__).resolve().parents[2]
    settings = Settings(model_store=args.store, default_model=args.default_model,
                        lease_s=args.older_than, base_dir=repo_root)
    repository = FirestoreRepository.for_database(args.project)
    store_error: StoreError | None = None
    try:
        store = open_store(args.store, base_dir=repo_root)
    except StoreError as err:
        store, store_error = None, err
    service = Service(repository=repository, store=store, settings=settings, store_error=store_error)
    while True:
        try:
            outcomes = recover(service, repository.client, args.project, dry_run=args.dry_run,
                               horizon_s=args.horizon)
        except Exception as err:  # Firestore unreachable for a moment: the next sweep tries again
            if args.every is None:
                raise
            print(f"sweep failed ({type(err).__name__}: {err}); next in {args.every:g} s", flush=True)
            outcomes = {}
        for path, outcome in outcomes.items():
            print(path, "stuck" if outcome is None else f"{outcome.state} {outcome.code or ''}".strip())
        if args.every is None:
            print(f"{len(outcomes)} stuck message(s)")
            return
        if outcomes:
            print(f"{len(outcomes)} stuck message(s) finished; next sweep in {args.every:g} s", flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    main()
