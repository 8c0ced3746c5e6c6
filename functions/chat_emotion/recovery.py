"""Finish messages whose run died mid-way (status PROCESSING for longer than the lease).

Triggers are not retried, so if an instance is killed between the claim and the write-back (out
of memory, a crash in native code), nothing would ever deliver that message again. This finds such
messages with a collection-group query and runs each through the same `handler.process`, whose
claim takes over a stale lease; a message that is still genuinely in progress is left alone.

    python -m chat_emotion.recovery --project PROJECT [--older-than 120] [--store models/store] [--dry-run]

Every flag has an environment twin (GCLOUD_PROJECT, MODEL_STORE, DEFAULT_MODEL). Against the
emulator set FIRESTORE_EMULATOR_HOST. In production the query needs a collection-group index on
`messages.status.state` (a fieldOverride in firestore.indexes.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import uuid
from pathlib import Path
from typing import Any

from chat_emotion.handler import MessageEvent, Outcome, Service, Settings, process
from chat_emotion.repository import PROCESSING, FirestoreRepository
from chat_emotion.store import open_store


def find_stuck(client: Any, older_than_s: float, now: dt.datetime | None = None) -> list[str]:
    """Paths of messages in PROCESSING whose claim started more than `older_than_s` ago."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    now = now or dt.datetime.now(dt.UTC)
    query = client.collection_group("messages").where(filter=FieldFilter("status.state", "==", PROCESSING))
    stuck = []
    for snapshot in query.stream():
        started = (snapshot.to_dict() or {}).get("status", {}).get("startTime")
        if isinstance(started, dt.datetime) and (now - started).total_seconds() > older_than_s:
            stuck.append(snapshot.reference.path)
    return stuck


def recover(service: Service, client: Any, project: str, *,
            dry_run: bool = False) -> dict[str, Outcome | None]:
    """Re-run every stuck message; {path: outcome} (None for each path in a dry run)."""
    outcomes: dict[str, Outcome | None] = {}
    for path in find_stuck(client, service.settings.lease_s):
        if dry_run:
            outcomes[path] = None
            continue
        event = MessageEvent(document=path, event_id=f"recovery-{uuid.uuid4()}", project=project)
        outcomes[path] = process(service, event)
    return outcomes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m chat_emotion.recovery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default=os.environ.get("GCLOUD_PROJECT"),
                        help="Firebase project id [GCLOUD_PROJECT]")
    parser.add_argument("--older-than", type=float, default=120.0,
                        help="age (s) of a PROCESSING claim that counts as dead (default 120: 2 x timeout)")
    parser.add_argument("--store", default=os.environ.get("MODEL_STORE", "models/store"),
                        help="model store, as the function's MODEL_STORE [MODEL_STORE, default models/store]")
    parser.add_argument("--default-model", default=os.environ.get("DEFAULT_MODEL", "store"),
                        help="as the function's DEFAULT_MODEL [DEFAULT_MODEL, default store]")
    parser.add_argument("--dry-run", action="store_true", help="list the stuck messages, change nothing")
    args = parser.parse_args(argv)
    if not args.project:
        parser.error("--project (or GCLOUD_PROJECT) is required")
    repo_root = Path(__file__).resolve().parents[2]
    settings = Settings(model_store=args.store, default_model=args.default_model,
                        lease_s=args.older_than, base_dir=repo_root)
    repository = FirestoreRepository.for_database(args.project)
    store = open_store(args.store, base_dir=repo_root)
    service = Service(repository=repository, store=store, settings=settings)
    outcomes = recover(service, repository.client, args.project, dry_run=args.dry_run)
    for path, outcome in outcomes.items():
        print(path, "stuck" if outcome is None else f"{outcome.state} {outcome.code or ''}".strip())
    print(f"{len(outcomes)} stuck message(s)")


if __name__ == "__main__":
    main()
