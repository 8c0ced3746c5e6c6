"""Hostile input: every Firestore value type in every field, odd and huge text, hostile ids.

Property-based (hypothesis), through the real entry point: functions/main.py:classify_message
behind functions-framework, given protobuf `document.v1.created` CloudEvents (the firebase SDK
parses each one, as in production). The unit tier runs thousands of documents against the
in-memory repository; a smaller sample runs against FirestoreRepository on the official emulator,
the documents written with the Admin SDK (rules would refuse most of them: this is the function's
own defence). The property: the request never fails, the message ends COMPLETED or ERROR with a
documented code, the client's fields are untouched, one outcome is logged, and a message that is
valid by the contract is classified.

Runs derandomized (the same examples every run, so CI is stable); HYPOTHESIS_SEED_RANDOM=1 explores.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
from collections.abc import Callable
from typing import Any

import pytest
from chat_emotion import errors
from chat_emotion.quota import Limits
from chat_emotion.text import MAX_TEXT_UNITS, is_readable, utf16_length
from google.events.cloud.firestore import ArrayValue, Document, DocumentEventData, MapValue, Value
from google.protobuf import timestamp_pb2
from google.type import latlng_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.function.conftest import PROJECT, UNUSED_FIRESTORE, log_entries
from tests.support.cloudevents import created_event
from tests.support.memory_repository import MemoryRepository

NO_LIMITS = Limits(per_minute=0, per_day=0)
"""Thousands of examples under a few uids: this tier is about what a text can do, not how many
(rate limits: tests/function/test_entry_point.py, tests/reliability/test_rate_limit.py)."""

UNIT_EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "2500"))
EMULATOR_EXAMPLES = int(os.environ.get("HOSTILE_EMULATOR_EXAMPLES", "60"))
EXPLORE = os.environ.get("HOSTILE_SEED_RANDOM") == "1"
SETTINGS = {"deadline": None, "derandomize": not EXPLORE, "database": None, "print_blob": True,
            "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.data_too_large]}
DOC_PREFIX = f"projects/{PROJECT}/databases/(default)/documents/"


class Ref:
    """A reference value as the memory repository keeps it (not a str: it must not pass as text)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and other.path == self.path


class Geo:
    def __init__(self, lat: float, lng: float) -> None:
        self.lat, self.lng = lat, lng

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Geo) and (other.lat, other.lng) == (self.lat, self.lng)


# --- strings: what people and attackers type ---------------------------------------------------

ODD = ["\x00", "\x00hello\x00", "\u202eevil\u202c", "\u200f\u0645\u0631\u062d\u0628\u0627", "😀" * 10,
       "👩‍👩‍👧‍👦", "e\u0301" * 50, "\ufeff", "\u2028\u2029", "\x1b[31mred\x1b[0m", "\r\n\t\v\f",
       "{{ params.X }}", "'; DROP TABLE messages; --", "<script>alert(1)</script>", "../../etc/passwd",
       "%s%s%n", "ﷺ" * 100, "\U0010ffff", "Z̴̡̛a̶l̷g̸o̵", " ", "tiny", "default", "TINY", "tiny@v1"]
utf8 = st.characters(codec="utf-8")  # lone surrogates cannot be encoded: see the test below
text_values = st.one_of(
    st.text(utf8, max_size=40),
    st.sampled_from(ODD),
    st.builds(lambda a, b, n: (a + b) * n, st.sampled_from(ODD), st.text(utf8, max_size=5),
              st.integers(1, 400)),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "😀", "\x00", " ", "é"]),
              st.sampled_from([1, 1999, 2000, 2001, 5000, 100_000])),
)
model_values = st.one_of(st.sampled_from(["default", "tiny", "tinymulti", "tiny@v1", "TINY", "tiny@v9",
                                          "nosuch", "default@v1", "", "a" * 65, "../x", "tiny@"]),
                         text_values)
# Any Firestore id (UTF-8, no "/", not "." or "..", not __x__) but control characters: the path
# travels in the ce-document HTTP header, which cannot carry them (the CloudEvents HTTP binding
# percent-encodes them; that transport is Eventarc's, not this code's).
ids = st.text(st.characters(codec="utf-8", exclude_characters="/", exclude_categories=("Cc",)),
              min_size=1, max_size=30).filter(
    lambda s: s not in (".", "..") and not (s.startswith("__") and s.endswith("__")))


# --- Firestore values: (protobuf Value, the Python value a repository returns) ------------------

def _ts(moment: dt.datetime) -> tuple[Value, dt.datetime]:
    pb = timestamp_pb2.Timestamp()
    pb.FromDatetime(moment)
    return Value(timestamp_value=pb), moment


scalars = st.one_of(
    st.just((Value(null_value=0), None)),
    st.booleans().map(lambda b: (Value(boolean_value=b), b)),
    st.integers(-(2**63), 2**63 - 1).map(lambda i: (Value(integer_value=i), i)),
    st.floats(allow_nan=False).map(lambda f: (Value(double_value=f), f)),
    st.sampled_from([float("nan"), float("inf"), float("-inf")]).map(lambda f: (Value(double_value=f), f)),
    st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31),
                 timezones=st.just(dt.UTC)).map(lambda d: _ts(d.replace(microsecond=d.microsecond))),
    text_values.map(lambda s: (Value(string_value=s), s)),
    st.binary(max_size=64).map(lambda b: (Value(bytes_value=b), b)),
    st.tuples(ids, ids).map(lambda p: (Value(reference_value=f"{DOC_PREFIX}users/{p[0]}/messages/{p[1]}"),
                                       Ref(f"users/{p[0]}/messages/{p[1]}"))),
    st.tuples(st.floats(-90, 90), st.floats(-180, 180)).map(
        lambda g: (Value(geo_point_value=latlng_pb2.LatLng(latitude=g[0], longitude=g[1])), Geo(*g))),
)


def _array(items: list[tuple[Value, Any]]) -> tuple[Value, list[Any]]:
    return Value(array_value=ArrayValue(values=[v for v, _ in items])), [p for _, p in items]


def _map(items: dict[str, tuple[Value, Any]]) -> tuple[Value, dict[str, Any]]:
    return (Value(map_value=MapValue(fields={k: v for k, (v, _) in items.items()})),
            {k: p for k, (_, p) in items.items()})


# Firestore forbids an array directly inside an array; maps may nest anything.
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(scalars, max_size=4).map(_array),
        st.dictionaries(st.text(utf8, min_size=1, max_size=8), inner, max_size=4).map(_map)),
    max_leaves=12)

MISSING = object()


@st.composite
def documents(draw: st.DrawFn) -> dict[str, tuple[Value, Any]]:
    """A message document: each of text/model/createdAt absent, well-typed, or any value; extra keys."""
    doc: dict[str, tuple[Value, Any]] = {}
    for name, typical in (("text", text_values.map(lambda s: (Value(string_value=s), s))),
                          ("model", model_values.map(lambda s: (Value(string_value=s), s))),
                          ("createdAt", st.just(_ts(dt.datetime.now(dt.UTC))))):
        choice = draw(st.one_of(st.just(MISSING), typical, typical, values))
        if choice is not MISSING:
            doc[name] = choice
    # `status` and `emotion` are the function's own fields: rules refuse them from clients
    # (test_rules_matrix.py: forged-status, forged-emotion), and a present status is the lock.
    extra = draw(st.dictionaries(st.text(utf8, min_size=1, max_size=12).filter(
        lambda k: k not in ("text", "model", "createdAt", "status", "emotion")), values, max_size=3))
    return {**doc, **extra}


def valid_by_contract(fields: dict[str, Any]) -> bool:
    text, model = fields.get("text", MISSING), fields.get("model", MISSING)
    known = ("default", "tiny", "tinymulti", "tiny@v1")
    return (isinstance(text, str) and utf16_length(text) <= MAX_TEXT_UNITS and is_readable(text)
            and isinstance(model, str) and model.strip().lower() in known)


def event_for(path: str, doc: dict[str, tuple[Value, Any]], event_id: str) -> tuple[dict[str, str], bytes]:
    headers, _ = created_event(path, None, project=PROJECT, event_id=event_id)
    fields = {k: v for k, (v, _) in doc.items()}
    created = timestamp_pb2.Timestamp(seconds=1)
    data = DocumentEventData(value=Document(name=DOC_PREFIX + path, fields=fields,
                                            create_time=created, update_time=created))
    return headers, DocumentEventData.serialize(data)


def canonical(value: Any) -> Any:
    """`value` with NaN made comparable (NaN != NaN, but a stored NaN is kept, not lost)."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    return value


def check_outcome(path: str, stored: dict[str, Any], after: dict[str, Any] | None, logged: str) -> None:
    assert after is not None, f"{path} vanished"
    status = after.get("status", {})
    assert status.get("state") in ("COMPLETED", "ERROR"), (path, status)
    if status["state"] == "ERROR":
        assert status["error"]["code"] in errors.RECORDED, status
        # INTERNAL is the last line of defence (an exception nobody foresaw): input never needs it.
        assert status["error"]["code"] != errors.INTERNAL, status
        assert "emotion" not in after
    else:
        assert after["emotion"]["label"]
    if valid_by_contract(stored):
        assert status["state"] == "COMPLETED", (path, status)
    kept = {k: v for k, v in after.items() if k not in ("status", "emotion")}
    assert canonical(kept) == canonical(stored)  # nothing the client wrote is lost or changed
    outcomes = [e for e in log_entries(logged) if e.get("path") == path and e.get("code")]
    assert len(outcomes) == 1, outcomes
    assert all("text" not in e for e in log_entries(logged))  # the log never carries the message text


_counter = itertools.count()


@pytest.fixture
def memory_instance(monkeypatch: pytest.MonkeyPatch, model_store: Any,
                    install_service: Callable[..., Any]) -> MemoryRepository:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", UNUSED_FIRESTORE)
    repo = MemoryRepository()
    install_service(repo, model_store, limits=NO_LIMITS)
    return repo


@settings(max_examples=UNIT_EXAMPLES, **SETTINGS)
@given(doc=documents(), uid=ids, message_id=ids)
def test_no_document_crashes_the_function(
        memory_instance: MemoryRepository, function_app: Any, capfd: pytest.CaptureFixture[str],
        doc: dict[str, tuple[Value, Any]], uid: str, message_id: str) -> None:
    path = f"users/{uid}/messages/{message_id}-{next(_counter)}"
    stored = {k: p for k, (_, p) in doc.items()}
    memory_instance.create(path, stored)
    capfd.readouterr()
    headers, body = event_for(path, doc, f"hostile-{next(_counter)}")
    response = function_app.test_client().post("/", headers=headers, data=body)
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    check_outcome(path, stored, memory_instance.get(path), capfd.readouterr().out)


def test_lone_surrogates_cannot_reach_the_function() -> None:
    # Firestore strings are UTF-8: a lone surrogate cannot be serialized, so no event carries one.
    with pytest.raises(UnicodeEncodeError):
        Value.serialize(Value(string_value="bad \ud800 text"))


# --- the same property against the official emulator (both repositories, Admin SDK writes) ------

def to_admin(value: Any, client: Any) -> Any:
    """The Python value google-cloud-firestore writes for a generated value."""
    from google.cloud.firestore_v1 import GeoPoint

    if isinstance(value, Ref):
        return client.document(value.path)
    if isinstance(value, Geo):
        return GeoPoint(value.lat, value.lng)
    if isinstance(value, list):
        return [to_admin(v, client) for v in value]
    if isinstance(value, dict):
        return {k: to_admin(v, client) for k, v in value.items()}
    return value


def from_admin(value: Any) -> Any:
    from google.cloud.firestore_v1 import DocumentReference, GeoPoint

    if isinstance(value, DocumentReference):
        return Ref(value.path)
    if isinstance(value, GeoPoint):
        return Geo(value.latitude, value.longitude)
    if isinstance(value, list):
        return [from_admin(v) for v in value]
    if isinstance(value, dict):
        return {k: from_admin(v) for k, v in value.items()}
    if isinstance(value, dt.datetime):
        return dt.datetime.fromtimestamp(value.timestamp(), dt.UTC).replace(microsecond=value.microsecond)
    return value


@pytest.mark.emulator
@settings(max_examples=EMULATOR_EXAMPLES, **SETTINGS)
@given(doc=documents(), uid=ids, message_id=ids)
def test_no_document_crashes_the_function_on_the_emulator(
        firestore_emulator: Any, emulator_instance: Any, function_app: Any, capfd: pytest.CaptureFixture[str],
        doc: dict[str, tuple[Value, Any]], uid: str, message_id: str) -> None:
    from google.api_core import exceptions

    client = emulator_instance
    path = f"users/{uid}/messages/{message_id}-{next(_counter)}"
    generated = {k: p for k, (_, p) in doc.items()}
    try:
        client.document(path).set(to_admin(generated, client))
    except (exceptions.InvalidArgument, ValueError):
        return  # Firestore itself refuses the document (e.g. text past 1 MiB): it can never be an event
    stored = from_admin(client.document(path).get().to_dict())
    capfd.readouterr()
    headers, body = event_for(path, doc, f"hostile-{next(_counter)}")
    response = function_app.test_client().post("/", headers=headers, data=body)
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    snapshot = client.document(path).get()
    check_outcome(path, stored, from_admin(snapshot.to_dict()) if snapshot.exists else None,
                  capfd.readouterr().out)


@pytest.fixture(params=["rest", "client-library"])
def emulator_instance(request: pytest.FixtureRequest, firestore: Any, monkeypatch: pytest.MonkeyPatch,
                      model_store: Any, install_service: Callable[..., Any]) -> Any:
    """The Admin client that writes the documents; the function reads them through the trigger's
    RestRepository, or the sweep's FirestoreRepository (google-cloud-firestore)."""
    from chat_emotion.firestore_rest import RestRepository
    from chat_emotion.repository import FirestoreRepository
    from google.cloud import firestore as gcf

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", firestore.host)
    client = gcf.Client(project=PROJECT)
    repository = RestRepository(PROJECT) if request.param == "rest" else FirestoreRepository(client)
    install_service(repository, model_store, limits=NO_LIMITS)
    return client
