"""App Check on the app's REST calls: a debug token exchanged for an App Check token, which goes on
every Firestore request as `X-Firebase-AppCheck`.

Google's exchangeDebugToken endpoint cannot run here, and the Firestore emulator does not enforce
App Check, so a scripted server (tests/app/scripted_server.py) stands in for both where the header
itself is under test. The last test runs the same client against the official Firestore emulator:
the header travels and the emulator accepts the request.
"""

from __future__ import annotations

import pytest

from mobile_app.appcheck import HEADER, AppCheckError, DebugAppCheck
from mobile_app.auth import UnsignedTokens
from mobile_app.firestore_rest import FirestoreClient, FirestoreError
from tests.app.scripted_server import ScriptedServer
from tests.support.servers import FirestoreEmulator

COMMITTED = {"writeResults": [{"transformResults": [{"timestampValue": "2026-12-05T10:00:00Z"}]}]}


def route_with(ttl: str, status: int = 200):
    exchanges = []

    def route(req):
        if req.path.startswith("/v1/projects/p/apps/1:123:android:abc:exchangeDebugToken"):
            exchanges.append(req.json())
            if status != 200:
                return status, {"error": {"code": status, "message": "debug token not registered"}}
            return 200, {"token": f"appcheck-{len(exchanges)}", "ttl": ttl}
        return 200, COMMITTED

    return route, exchanges


def app_check(server: ScriptedServer) -> DebugAppCheck:
    return DebugAppCheck(api_key="key", project_id="p", app_id="1:123:android:abc", debug_token="debug-uuid",
                         base_url=server.url)


def test_every_firestore_request_carries_the_exchanged_token_until_it_is_near_expiry() -> None:
    route, exchanges = route_with("3600s")
    with ScriptedServer(route) as server:
        client = FirestoreClient(server.url, "p", UnsignedTokens("alice", "p"), app_check=app_check(server))
        client.create_message("m1", "hi", "default")
        client.create_message("m2", "hi", "default")
        writes = [s for s in server.seen if s.path.endswith(":commit")]
        assert [s.headers[HEADER] for s in writes] == ["appcheck-1", "appcheck-1"]  # exchanged once
        assert exchanges == [{"debugToken": "debug-uuid"}]
        assert "key=key" in next(s.path for s in server.seen if "exchangeDebugToken" in s.path)


def test_a_short_lived_token_is_exchanged_again() -> None:
    route, exchanges = route_with("60s")  # inside the 5-minute margin: every call exchanges
    with ScriptedServer(route) as server:
        client = FirestoreClient(server.url, "p", UnsignedTokens("alice", "p"), app_check=app_check(server))
        client.create_message("m1", "hi", "default")
        client.create_message("m2", "hi", "default")
        assert len(exchanges) == 2
        assert [s.headers[HEADER] for s in server.seen if s.path.endswith(":commit")] == [
            "appcheck-1", "appcheck-2"]


def test_an_unregistered_debug_token_keeps_the_message_queued_with_what_to_do() -> None:
    route, _ = route_with("3600s", status=403)
    with ScriptedServer(route) as server:
        client = FirestoreClient(server.url, "p", UnsignedTokens("alice", "p"), app_check=app_check(server))
        with pytest.raises(FirestoreError) as caught:
            client.create_message("m1", "hi", "default")
        assert caught.value.transient  # the sync engine keeps it in the outbox and retries
        assert "Manage debug tokens" in str(caught.value)
        assert not [s for s in server.seen if s.path.endswith(":commit")]  # nothing sent without it


def test_app_check_needs_the_apps_id() -> None:
    with pytest.raises(AppCheckError, match="appId"):
        DebugAppCheck(api_key="k", project_id="p", app_id="", debug_token="d")


@pytest.mark.emulator
def test_the_emulator_accepts_requests_that_carry_the_header(firestore: FirestoreEmulator) -> None:
    route, _ = route_with("3600s")
    with ScriptedServer(route) as appcheck_server:
        tokens = UnsignedTokens("alice", firestore.project)
        client = FirestoreClient(firestore.base_url, firestore.project, tokens,
                                 app_check=app_check(appcheck_server))
        assert client.create_message("m1", "hi", "default")
        assert client.get_messages(["m1"])["m1"].fields["text"] == "hi"


def test_the_cloud_config_turns_app_check_on(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from mobile_app.appcheck import app_check_for
    from mobile_app.config import ConfigError, Settings, resolve

    monkeypatch.delenv("EMOTION_APPCHECK_DEBUG_TOKEN", raising=False)
    config = tmp_path / "firebase-app.json"
    config.write_text(json.dumps({"apiKey": "k", "projectId": "p", "appId": "1:2:web:3"}))
    settings = Settings(backend="cloud", config_path=str(config))
    assert app_check_for(resolve(settings, tmp_path)) is None  # no debug token: no header
    monkeypatch.setenv("EMOTION_APPCHECK_DEBUG_TOKEN", "debug-uuid")
    provider = app_check_for(resolve(settings, tmp_path))
    assert isinstance(provider, DebugAppCheck) and provider.app_id == "1:2:web:3"
    config.write_text(json.dumps({"apiKey": "k", "projectId": "p"}))
    with pytest.raises(ConfigError, match="appId"):
        resolve(settings, tmp_path)


def test_the_on_device_model_download_carries_the_header_too(tmp_path) -> None:
    from mobile_app.ondevice import DeviceModelError, StorageSource

    def route(req):
        if "exchangeDebugToken" in req.path:
            return 200, {"token": "appcheck-1", "ttl": "3600s"}
        return 404, {"error": {"code": 404, "message": "no such object"}}

    with ScriptedServer(route) as server:
        source = StorageSource(server.url, "bucket", lambda: "id-token", app_check=app_check(server))
        with pytest.raises(DeviceModelError, match="answered 404"):
            source.download("minilm-l2", tmp_path)
        downloads = [s for s in server.seen if "/v0/b/bucket/o/" in s.path]
        assert downloads and downloads[0].headers[HEADER] == "appcheck-1"
