"""The real app in a real Kivy window (offscreen, or Xvfb when DISPLAY is set), driven like a person.

Each run is its own process (Kivy allows one window per process), started through the app's own
entry point: `python -m mobile_app --script ... --screenshot ...`. It types into the message box,
presses Send, and waits for the label under the bubble.

The emotion is written here by `FunctionStandIn`, an admin write to the emulator, because this
tier tests the app: the real Cloud Function (functions/) answers in the end-to-end tier, which
drives this same app with the same --script interface.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.support.servers import REPO_ROOT, FirestoreEmulator

pytestmark = [pytest.mark.gui, pytest.mark.emulator]
ARTIFACTS = REPO_ROOT / "artifacts" / "app"
JOY = (237, 158, 13)       # presentation.EMOTION_COLOURS["joy"] in 8-bit
SADNESS = (64, 115, 204)   # presentation.EMOTION_COLOURS["sadness"]
ERROR_BUBBLE = (252, 230, 230)  # screens.kv: the bubble of a message in error


class FunctionStandIn(threading.Thread):
    """Answers each new message as the function would: PROCESSING, then COMPLETED or ERROR."""

    def __init__(self, emulator: FirestoreEmulator, uid: str) -> None:
        super().__init__(daemon=True)
        self.emulator, self.uid = emulator, uid
        self.done: set[str] = set()
        self.failed_once: set[str] = set()
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.wait(0.2):
            url = f"{self.emulator.documents_url}/users/{self.uid}/messages"
            status, body = self.emulator.request("GET", url, headers=self.emulator.admin_headers)
            for doc in body.get("documents", []) if status == 200 else []:
                if doc["name"] not in self.done:
                    self.done.add(doc["name"])
                    self.answer(doc["name"], doc["fields"])

    def answer(self, name: str, fields: dict) -> None:
        text, model = fields["text"]["stringValue"], fields["model"]["stringValue"]
        self.write(name, {"status": _map(state="PROCESSING")})
        if model == "electra" and text not in self.failed_once:  # a model that fails its first load
            self.failed_once.add(text)
            result = {"status": _map(state="ERROR", error=_map(
                code="MODEL_LOAD_FAILED", message="Model 'electra' failed to load; try again."))}
        else:
            label = "joy" if any(w in text.lower() for w in ("happy", "thanks", "won")) else "sadness"
            served = model if model != "default" else "minilm"
            result = {"status": _map(state="COMPLETED"),
                      "emotion": _map(label=label, score=0.93, model=served)}
        self.write(name, result)

    def write(self, name: str, fields: dict) -> None:
        mask = "&".join(f"updateMask.fieldPaths={k}" for k in fields)
        status, body = self.emulator.request("PATCH", f"{self.emulator.base_url}/v1/{name}?{mask}",
                                             {"fields": fields}, self.emulator.admin_headers)
        assert status == 200, body


def _map(**fields: object) -> dict:
    def value(v: object) -> dict:
        if isinstance(v, dict):
            return v
        return {"doubleValue": v} if isinstance(v, float) else {"stringValue": str(v)}

    return {"mapValue": {"fields": {k: value(v) for k, v in fields.items()}}}


def run_app(emulator: FirestoreEmulator, data_dir: Path, script: str, size: str, shot: Path,
            tmp_path: Path, *extra: str) -> tuple[int, list[dict], str]:
    script_file = tmp_path / f"script-{size}.txt"
    script_file.write_text(script, encoding="utf-8")
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_LOG_MODE": "PYTHON", "KIVY_HOME": str(tmp_path / "kivy")}
    proc = subprocess.run(
        [sys.executable, "-m", "mobile_app", "--emulator", emulator.host, "--project", emulator.project,
         "--unsigned-uid", "alice", "--data-dir", str(data_dir), "--size", size,
         "--script", str(script_file), "--screenshot", str(shot), "--timeout", "30", *extra],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, records, proc.stderr


def colour_share(path: Path, rgb: tuple[int, int, int], tolerance: int = 12) -> float:
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16).reshape(-1, 3)
    near = (np.abs(pixels - np.array(rgb, dtype=np.int16)) <= tolerance).all(axis=1)
    return float(near.mean())


def test_chat_in_a_real_window_portrait_then_landscape_after_a_restart(firestore, tmp_path):
    stand_in = FunctionStandIn(firestore, "alice")
    stand_in.start()
    data_dir = tmp_path / "device"
    portrait = ARTIFACTS / "chat-480x800.png"
    landscape = ARTIFACTS / "chat-800x480.png"
    try:
        rc, records, stderr = run_app(firestore, data_dir, (
            "# a person's evening\n"
            "I finally got the job, I am so happy!\n"
            "@model bert\n"
            "Why does everything always go wrong for me\n"
            "@model electra\n"
            "My cat knocked the plant over again\n"
            "@retry\n"), "480x800", portrait, tmp_path)
        print(f"screenshot: {portrait}")
        assert rc == 0, stderr[-3000:]
        said = [r for r in records if "text" in r]
        assert [(r["model"], r["state"], r["label"]) for r in said] == [
            ("default", "completed", "joy"), ("bert", "completed", "sadness"), ("electra", "error", None),
            ("electra", "completed", "sadness")]  # Retry, tapped in the window, sent it again
        assert said[3]["text"] == said[2]["text"] and said[3]["id"] != said[2]["id"]
        assert (said[2]["error_code"], said[2]["error"]) == ("MODEL_LOAD_FAILED",
                                                             "Model 'electra' failed to load; try again.")
        assert records[-1] == {"screenshot": str(portrait), "messages_shown": 4}
        from PIL import Image

        assert Image.open(portrait).size == (480, 800)
        # The chips and the error are drawn, not only stored: their colours are on screen.
        assert colour_share(portrait, JOY) > 0.001
        assert colour_share(portrait, SADNESS) > 0.001
        assert colour_share(portrait, ERROR_BUBBLE, tolerance=3) > 0.01

        # Restart in landscape (a Pi touchscreen): history is back; a too-long message stays on the device.
        rc, records, stderr = run_app(firestore, data_dir, (
            "x" * 2001 + "\n"
            "@model minilm\n"
            "Sorry, thanks for listening\n"), "800x480", landscape, tmp_path)
        print(f"screenshot: {landscape}")
        assert rc == 0, stderr[-3000:]
        assert records[0]["state"] == "invalid"
        assert "2001 characters; the limit is 2000" in records[0]["error"]
        assert records[0]["model"] == "electra"  # the picker's choice survived the restart
        assert [records[1][k] for k in ("state", "label", "model")] == ["completed", "joy", "minilm"]
        assert records[-1]["messages_shown"] == 5
        assert Image.open(landscape).size == (800, 480)
    finally:
        stand_in.halt.set()
        stand_in.join(5)
    # Exactly once: five documents on the server, one per accepted message (the retry is a new one).
    status, body = firestore.request("GET", f"{firestore.documents_url}/users/alice/messages",
                                     headers=firestore.admin_headers)
    assert len(body["documents"]) == 5


def test_a_provisional_on_device_label_in_the_window_then_device_mode(firestore, tmp_path):
    """Hybrid with no function answering: the chip shows the device's label, marked as such, while
    the message waits for the cloud; device mode labels for good and sends nothing."""
    from mobile_app.ondevice import DEFAULT_DEVICE_MODEL
    from mobile_app.presentation import emotion_colour

    hybrid_shot = ARTIFACTS / "provisional-label-480x800.png"
    rc, records, stderr = run_app(firestore, tmp_path / "device", (
        "@device-label\n"
        "I am so happy, we won the final!\n"), "480x800", hybrid_shot, tmp_path, "--labels", "hybrid")
    print(f"screenshot: {hybrid_shot}")
    assert rc == 0, stderr[-3000:]
    (said,) = [r for r in records if "text" in r]
    assert said["on_device"] and said["served_by"] == DEFAULT_DEVICE_MODEL and said["label"] == "joy", said
    assert said["state"] in ("queued", "sent")  # still the cloud's to answer
    rgb = tuple(round(255 * c) for c in emotion_colour("joy")[:3])
    assert colour_share(hybrid_shot, rgb) > 0.001  # the chip is drawn, not only stored
    status, body = firestore.request("GET", f"{firestore.documents_url}/users/alice/messages",
                                     headers=firestore.admin_headers)
    assert [d["fields"]["text"]["stringValue"] for d in body.get("documents", [])] == [said["text"]]

    script = "@device-label\nI feel so lonely and heartbroken since you left\n"
    rc, records, stderr = run_app(firestore, tmp_path / "private", script, "480x800",
                                  ARTIFACTS / "device-mode-480x800.png", tmp_path, "--labels", "device")
    assert rc == 0, stderr[-3000:]
    (said,) = [r for r in records if "text" in r]
    assert (said["state"], said["on_device"], said["label"]) == ("local", True, "sadness"), said


def test_sign_in_screen_through_auth_rest_then_chat(firestore, tmp_path):
    """First start: no session, so the sign-in screen; the driver taps "Start chatting".

    `--auth-emulator` points at a scripted Auth REST server (firebase-tools' Auth emulator is not
    installed here): it answers signUp and token refresh as the REST API documents, with unsigned
    ID tokens the Firestore emulator accepts. The first token lives 300 s, already inside the
    app's refresh margin, so the app must refresh it (securetoken) before its first Firestore request.
    """
    from urllib.parse import parse_qs, urlparse

    from tests.app.scripted_server import ScriptedServer
    from tests.support.servers import unsigned_id_token

    def route(req):
        path = urlparse(req.path).path
        if path == "/identitytoolkit.googleapis.com/v1/accounts:signUp":
            return 200, {"idToken": unsigned_id_token("guest-1", firestore.project), "refreshToken": "r1",
                         "expiresIn": "300", "localId": "guest-1"}
        if path == "/securetoken.googleapis.com/v1/token":
            assert parse_qs(req.body.decode())["refresh_token"] == ["r1"]
            return 200, {"id_token": unsigned_id_token("guest-1", firestore.project), "refresh_token": "r1",
                         "expires_in": "3600", "user_id": "guest-1"}
        return 404, {"error": {"message": "NOT_FOUND"}}

    stand_in = FunctionStandIn(firestore, "guest-1")
    stand_in.start()
    script = tmp_path / "script.txt"
    script.write_text("Thanks, that was easy\n", encoding="utf-8")
    env = {**os.environ, "KIVY_NO_ARGS": "1", "KIVY_LOG_MODE": "PYTHON", "KIVY_HOME": str(tmp_path / "kivy")}
    try:
        with ScriptedServer(route) as auth:
            proc = subprocess.run(
                [sys.executable, "-m", "mobile_app", "--emulator", firestore.host,
                 "--project", firestore.project, "--auth-emulator", f"127.0.0.1:{auth.port}",
                 "--data-dir", str(tmp_path / "device"),
                 "--size", "480x800", "--script", str(script), "--timeout", "30"],
                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=90)
            paths = [urlparse(s.path).path.rsplit("/", 1)[-1] for s in auth.seen]
    finally:
        stand_in.halt.set()
        stand_in.join(5)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.startswith("{"), proc.stdout + proc.stderr[-3000:]
    record = json.loads(proc.stdout.splitlines()[0])
    assert (record["state"], record["label"]) == ("completed", "joy"), record
    assert paths[0] == "accounts:signUp" and "token" in paths, paths  # signed in, refreshed before expiry
    session = json.loads((tmp_path / "device" / f"session-emulator-{firestore.project}.json").read_text())
    assert session["uid"] == "guest-1" and session["anonymous"] is True
