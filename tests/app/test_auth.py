"""Firebase Auth REST: sign-in, tokens refreshed before expiry, errors a person can act on."""

import json
from urllib.parse import parse_qs, urlparse

import pytest

from mobile_app.auth import REFRESH_MARGIN_S, AuthError, FirebaseAuth, UnsignedTokens
from tests.app.scripted_server import ScriptedServer, Seen


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def auth_server() -> ScriptedServer:
    """Answers the three endpoints the app uses, the way the Auth REST API documents them."""
    state = {"refreshes": 0}

    def route(req: Seen):
        url = urlparse(req.path)
        if parse_qs(url.query).get("key") != ["k123"]:
            return 400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key."}}
        if url.path == "/identitytoolkit.googleapis.com/v1/accounts:signUp":
            body = req.json()
            if body.get("email") == "taken@example.com":
                return 400, {"error": {"code": 400, "message": "EMAIL_EXISTS"}}
            return 200, {"idToken": "id-0", "refreshToken": "r-0", "expiresIn": "3600", "localId": "uid-1",
                         **({"email": body["email"]} if "email" in body else {})}
        if url.path == "/identitytoolkit.googleapis.com/v1/accounts:signInWithPassword":
            if req.json()["password"] != "right-password":
                return 400, {"error": {"code": 400, "message": "INVALID_LOGIN_CREDENTIALS"}}
            return 200, {"idToken": "id-e", "refreshToken": "r-e", "expiresIn": "3600", "localId": "uid-2",
                         "email": req.json()["email"]}
        if url.path == "/securetoken.googleapis.com/v1/token":
            form = parse_qs(req.body.decode())
            if form["refresh_token"] == ["revoked"]:
                return 400, {"error": {"code": 400, "message": "INVALID_REFRESH_TOKEN"}}
            if form["refresh_token"] == ["flaky"]:
                return 503, {"error": {"code": 503, "message": "UNAVAILABLE"}}
            state["refreshes"] += 1
            n = state["refreshes"]
            return 200, {"id_token": f"id-{n}", "refresh_token": f"r-{n}", "expires_in": "3600",
                         "user_id": "uid-1"}
        return 404, {}

    return ScriptedServer(route)


def make_auth(server: ScriptedServer, tmp_path, clock=None) -> FirebaseAuth:
    return FirebaseAuth("k123", f"{server.url}/identitytoolkit.googleapis.com",
                        f"{server.url}/securetoken.googleapis.com", tmp_path / "session.json",
                        clock=clock or Clock())


def test_anonymous_sign_in_persists_and_refreshes_before_expiry(tmp_path):
    clock = Clock()
    with auth_server() as server:
        auth = make_auth(server, tmp_path, clock)
        assert not auth.signed_in
        session = auth.sign_in_anonymously()
        assert (session.uid, session.anonymous) == ("uid-1", True)
        assert auth.id_token() == "id-0"
        clock.now += 3600 - REFRESH_MARGIN_S - 1
        assert auth.id_token() == "id-0"  # still comfortably valid: no request
        clock.now += 2
        assert auth.id_token() == "id-1"  # inside the margin: refreshed before it expires
        assert auth.refresh() == "id-2"   # forced (after a 401)
        # A restart finds the session (and the rotated refresh token) on disk.
        again = make_auth(server, tmp_path, clock)
        assert again.uid == "uid-1" and again.id_token() == "id-2"
        assert json.loads((tmp_path / "session.json").read_text())["refresh_token"] == "r-2"
        again.sign_out()
        assert not (tmp_path / "session.json").exists()
        with pytest.raises(AuthError, match="Not signed in"):
            again.id_token()
        token_calls = [s for s in server.seen if "securetoken" in s.path]
        assert len(token_calls) == 2
        assert parse_qs(token_calls[0].body.decode())["grant_type"] == ["refresh_token"]


def test_email_sign_in_and_errors_people_can_act_on(tmp_path):
    with auth_server() as server:
        auth = make_auth(server, tmp_path)
        assert auth.sign_in_with_email("ann@example.com", "right-password").email == "ann@example.com"
        assert not auth.session.anonymous
        with pytest.raises(AuthError, match="Wrong email or password") as err:
            auth.sign_in_with_email("ann@example.com", "wrong")
        assert not err.value.transient
        with pytest.raises(AuthError, match="already exists: sign in instead"):
            auth.sign_up_with_email("taken@example.com", "whatever1")
        bad_key = FirebaseAuth("wrong", f"{server.url}/identitytoolkit.googleapis.com",
                               f"{server.url}/securetoken.googleapis.com", tmp_path / "s2.json")
        with pytest.raises(AuthError, match="apiKey in the Firebase config file is not valid"):
            bad_key.sign_in_anonymously()


def test_revoked_and_unreachable_refresh(tmp_path):
    with auth_server() as server:
        auth = make_auth(server, tmp_path)
        auth.sign_in_anonymously()
        auth.session.refresh_token = "flaky"
        with pytest.raises(AuthError) as err:
            auth.refresh()
        assert err.value.transient  # 503: the outbox waits and retries, the person stays signed in
        auth.session.refresh_token = "revoked"
        with pytest.raises(AuthError, match="sign in again") as err:
            auth.refresh()
        assert not err.value.transient
    offline = make_auth(server, tmp_path)  # the server is gone now
    with pytest.raises(AuthError, match="Cannot reach the sign-in server") as err:
        offline.refresh()
    assert err.value.transient


def test_unsigned_tokens_name_the_uid():
    tokens = UnsignedTokens("alice", "demo-emotion")
    header, payload, signature = tokens.id_token().split(".")
    import base64

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert (claims["sub"], claims["user_id"], claims["aud"]) == ("alice", "alice", "demo-emotion")
    assert signature == "" and tokens.uid == "alice"
