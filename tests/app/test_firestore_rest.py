"""The REST client's error handling, against a scripted server (the emulator tier runs the real one)."""

import pytest

from mobile_app.auth import UnsignedTokens
from mobile_app.firestore_rest import FirestoreClient, FirestoreError, decode_value
from tests.app.scripted_server import ScriptedServer, rpc_error
from tests.support.servers import free_port


class CountingTokens(UnsignedTokens):
    """Issues tokens numbered 1, 2, ...: the test sees which token each request carried."""

    def refresh(self) -> str:
        super().refresh()
        return f"token-{self.issued}"

    def id_token(self) -> str:
        return f"token-{self.issued}" if self.issued else self.refresh()


def test_decode_value_covers_the_result_shapes():
    raw = {"mapValue": {"fields": {
        "state": {"stringValue": "COMPLETED"},
        "latencyMs": {"integerValue": "4"},
        "score": {"doubleValue": 0.93},
        "labels": {"arrayValue": {"values": [{"stringValue": "joy"}]}},
        "empty": {"arrayValue": {}},
        "when": {"timestampValue": "2026-11-25T10:00:00Z"},
        "none": {"nullValue": None},
        "flag": {"booleanValue": True}}}}
    assert decode_value(raw) == {"state": "COMPLETED", "latencyMs": 4, "score": 0.93, "labels": ["joy"],
                                 "empty": [], "when": "2026-11-25T10:00:00Z", "none": None, "flag": True}


def test_expired_token_is_refreshed_once_and_the_request_repeated():
    def route(req):
        if req.headers["Authorization"] == "Bearer token-1":
            return rpc_error(401, "UNAUTHENTICATED", "token expired")
        return 200, {"writeResults": [{"transformResults": [{"timestampValue": "2026-11-25T10:00:00Z"}]}]}

    with ScriptedServer(route) as server:
        tokens = CountingTokens("alice", "p")
        client = FirestoreClient(server.url, "p", tokens)
        assert client.create_message("m1", "hi", "default") == "2026-11-25T10:00:00Z"
        assert [s.headers["Authorization"] for s in server.seen] == ["Bearer token-1", "Bearer token-2"]
        write = server.seen[-1].json()["writes"][0]
        assert write["currentDocument"] == {"exists": False}
        assert write["updateTransforms"] == [{"fieldPath": "createdAt", "setToServerValue": "REQUEST_TIME"}]
        assert set(write["update"]["fields"]) == {"text", "model"}
        assert write["update"]["name"].endswith("/documents/users/alice/messages/m1")
        assert server.seen[-1].path == "/v1/projects/p/databases/(default)/documents:commit"


def test_a_second_401_is_an_error_not_a_loop():
    with ScriptedServer(lambda req: rpc_error(401, "UNAUTHENTICATED")) as server:
        client = FirestoreClient(server.url, "p", CountingTokens("alice", "p"))
        with pytest.raises(FirestoreError) as err:
            client.get_message("m1")
        assert err.value.unauthenticated and len(server.seen) == 2


@pytest.mark.parametrize(("reply", "transient", "exists"), [
    (rpc_error(503, "UNAVAILABLE"), True, False),
    (rpc_error(429, "RESOURCE_EXHAUSTED"), True, False),
    (rpc_error(500, "INTERNAL"), True, False),
    (rpc_error(409, "ALREADY_EXISTS"), False, True),
    (rpc_error(400, "FAILED_PRECONDITION"), False, True),
    (rpc_error(400, "INVALID_ARGUMENT", "bad"), False, False),
])
def test_errors_are_classified(reply, transient, exists):
    with ScriptedServer(lambda req: reply) as server:
        client = FirestoreClient(server.url, "p", UnsignedTokens("alice", "p"))
        if exists:  # an earlier attempt landed: delivered, not an error
            assert client.create_message("m1", "hi", "default") is None
            return
        with pytest.raises(FirestoreError) as err:
            client.create_message("m1", "hi", "default")
        assert err.value.transient is transient
        assert err.value.human()


def test_permission_denied_on_an_existing_document_of_ours_counts_as_delivered():
    """Production may judge the rules (update: false) before the exists:false precondition."""
    def route(req):
        if req.method == "POST":
            return rpc_error(403, "PERMISSION_DENIED")
        text = "hi" if req.path.endswith("/m1") else "someone else's words"
        return 200, {"name": f"projects/p/databases/(default)/documents/users/alice/messages/{req.path[-2:]}",
                     "fields": {"text": {"stringValue": text}}}

    with ScriptedServer(route) as server:
        client = FirestoreClient(server.url, "p", UnsignedTokens("alice", "p"))
        assert client.create_message("m1", "hi", "default") is None
        with pytest.raises(FirestoreError, match="PERMISSION_DENIED"):
            client.create_message("m2", "hi", "default")


def test_offline_is_transient():
    client = FirestoreClient(f"http://127.0.0.1:{free_port()}", "p", UnsignedTokens("alice", "p"))
    with pytest.raises(FirestoreError) as err:
        client.create_message("m1", "hi", "default")
    assert err.value.http_status == 0 and err.value.transient
    assert "No connection" in err.value.human()
