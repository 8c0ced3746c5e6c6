"""Backend settings, the cloud config file, and the command line's flags and environment twins."""

import json
import subprocess
import sys

import pytest

from mobile_app.__main__ import build_parser, overrides_from
from mobile_app.config import ConfigError, Settings, read_cloud_config, resolve
from tests.support.servers import REPO_ROOT


def test_emulator_endpoints_follow_firebase_json(tmp_path):
    backend = resolve(Settings(backend="emulator", emulator_host="10.0.0.5", auth_emulator_host="10.0.0.5"),
                      tmp_path)
    ports = json.loads((REPO_ROOT / "firebase.json").read_text())["emulators"]
    assert backend.firestore_url == f"http://10.0.0.5:{ports['firestore']['port']}"
    assert backend.identity_url == f"http://10.0.0.5:{ports['auth']['port']}/identitytoolkit.googleapis.com"
    assert backend.securetoken_url == f"http://10.0.0.5:{ports['auth']['port']}/securetoken.googleapis.com"
    with pytest.raises(ConfigError, match="test uid"):
        resolve(Settings(backend="emulator", auth_emulator_host=""), tmp_path)


def test_cloud_needs_a_config_file_and_says_where(tmp_path, monkeypatch):
    monkeypatch.delenv("EMOTION_CHAT_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=f"firebase-app.json .* in {tmp_path}"):
        resolve(Settings(backend="cloud"), tmp_path)
    (tmp_path / "firebase-app.json").write_text(json.dumps({"apiKey": "AIza-test", "projectId": "my-proj"}))
    backend = resolve(Settings(backend="cloud"), tmp_path)
    assert (backend.project_id, backend.api_key) == ("my-proj", "AIza-test")
    assert backend.firestore_url == "https://firestore.googleapis.com"
    assert backend.identity_url == "https://identitytoolkit.googleapis.com"


def test_config_file_formats(tmp_path):
    services = tmp_path / "google-services.json"
    services.write_text(json.dumps({"project_info": {"project_id": "p1"},
                                    "client": [{"api_key": [{"current_key": "k1"}]}]}))
    assert read_cloud_config(services)[:2] == ("k1", "p1")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"apiKey": "k"}))
    with pytest.raises(ConfigError, match="needs both"):
        read_cloud_config(broken)


def test_settings_round_trip_ignores_unknown_keys(tmp_path):
    path = tmp_path / "settings.json"
    Settings(model="bert", unsigned_uid="alice").save(path)
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "from_a_newer_version": 1}))
    assert Settings.load(path) == Settings(model="bert", unsigned_uid="alice")


def test_flags_and_environment_twins(monkeypatch):
    for twin in ("EMOTION_CHAT_PROJECT", "GCLOUD_PROJECT"):  # the function tier's session sets GCLOUD_PROJECT
        monkeypatch.delenv(twin, raising=False)
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:8181")
    monkeypatch.setenv("EMOTION_CHAT_MODEL", "roberta")
    monkeypatch.setenv("EMOTION_CHAT_LABELS", "hybrid")
    args = build_parser().parse_args(["--unsigned-uid", "bob"])
    assert overrides_from(args) == {"model": "roberta", "backend": "emulator", "labels": "hybrid",
                                    "emulator_host": "127.0.0.1:8181", "unsigned_uid": "bob"}
    assert build_parser().parse_args(["--labels", "device"]).labels == "device"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--labels", "edge"])
    args = build_parser().parse_args(["--model", "bert", "--emulator", "h:1"])  # a flag wins over its twin
    assert overrides_from(args)["model"] == "bert" and overrides_from(args)["emulator_host"] == "h:1"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--model", "gpt"])


def test_help_is_enough_to_use_it():
    out = subprocess.run([sys.executable, "-m", "mobile_app", "--help"], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0
    for flag in ("--config", "--emulator", "--auth-emulator", "--unsigned-uid", "--script", "--screenshot",
                 "EMOTION_CHAT_CONFIG", "FIRESTORE_EMULATOR_HOST"):
        assert flag in out.stdout
