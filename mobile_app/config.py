"""Where the app's backend is: a real Firebase project (from its config file) or local emulators.

Settings live in `<user_data_dir>/settings.json` and are changed on the Settings screen. Every
setting also has a command-line flag and an environment variable (see `python -m mobile_app --help`).

The cloud config file holds the project's public web config: `{"apiKey": "...", "projectId": "..."}`
(Firebase console → Project settings → Your apps → SDK setup and configuration), or an Android
`google-services.json`. It is looked for, in order, at `--config`, `$EMOTION_CHAT_CONFIG`,
`<user_data_dir>/firebase-app.json` and `mobile_app/firebase-app.json` (bundled into the APK;
ignored by git). An apiKey only names the project; the security rules are what protect the data,
but keep the file out of the repository all the same.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal

from mobile_app.ondevice import DEFAULT_DEVICE_MODEL, MODES
from mobile_app.store import atomic_write_json, read_json

PACKAGE_DIR = Path(__file__).resolve().parent
CONFIG_FILENAME = "firebase-app.json"
# Ports of the emulators in the repository's firebase.json.
FIRESTORE_EMULATOR_PORT = 8080
AUTH_EMULATOR_PORT = 9099
STORAGE_EMULATOR_PORT = 9199
STORAGE_URL = "https://firebasestorage.googleapis.com"
EMULATOR_PROJECT = "demo-emotion"
# Any key works with the Auth emulator; it is still sent because the REST API requires one.
EMULATOR_API_KEY = "fake-api-key"


class ConfigError(ValueError):
    """The backend settings cannot work; the message says what to fix."""


@dataclass
class Settings:
    backend: Literal["cloud", "emulator"] = "emulator"
    config_path: str = ""                    # the cloud config file; "" = the usual places
    emulator_host: str = f"127.0.0.1:{FIRESTORE_EMULATOR_PORT}"   # Firestore emulator host[:port]
    auth_emulator_host: str = f"127.0.0.1:{AUTH_EMULATOR_PORT}"    # "" = no Auth emulator (unsigned tokens)
    emulator_project: str = EMULATOR_PROJECT
    unsigned_uid: str = ""                   # emulator only: act as this uid with unsigned tokens
    model: str = "default"
    labels: Literal["cloud", "hybrid", "device", "auto"] = "cloud"   # where labels come from (ondevice.py)
    device_model: str = DEFAULT_DEVICE_MODEL  # the model the device runs (a model-store name)
    device_model_dir: str = ""               # an artifact folder to use instead of looking for one
    model_bucket: str = ""                   # where to fetch it: "" = the config's storageBucket
    storage_emulator_host: str = ""          # emulator only: the Storage emulator (port 9199)

    @classmethod
    def load(cls, path: Path) -> Settings:
        raw = read_json(path)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known}) if isinstance(raw, dict) else cls()

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))


@dataclass(frozen=True)
class Backend:
    """Resolved endpoints; what the auth and Firestore clients are built from."""

    kind: Literal["cloud", "emulator"]
    project_id: str
    api_key: str
    firestore_url: str
    identity_url: str
    securetoken_url: str
    unsigned_uid: str = ""
    storage_url: str = STORAGE_URL
    bucket: str = ""
    """The model bucket the device fetches its model from ("" = none: bundled or cached copies only)."""
    app_id: str = ""
    """The Firebase app id (`appId`, or google-services.json's mobilesdk_app_id), for App Check."""
    app_check_debug_token: str = ""
    """An App Check debug token registered for this app ($EMOTION_APPCHECK_DEBUG_TOKEN, or
    `appCheckDebugToken` in the config file); "" sends no App Check header (mobile_app.appcheck)."""

    @property
    def slug(self) -> str:
        """A file-name-safe name: sessions and histories are kept apart per backend."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.kind}-{self.project_id}")

    @property
    def description(self) -> str:
        if self.kind == "cloud":
            return f"Firebase project {self.project_id}"
        who = f", as {self.unsigned_uid} (unsigned test token)" if self.unsigned_uid else ""
        return f"emulator {self.firestore_url.removeprefix('http://')} ({self.project_id}){who}"


def _with_port(host: str, port: int) -> str:
    host = host.strip().removeprefix("http://").rstrip("/")
    return host if ":" in host else f"{host}:{port}"


def _storage_url(emulator_host: str) -> str:
    return f"http://{_with_port(emulator_host, STORAGE_EMULATOR_PORT)}" if emulator_host else STORAGE_URL


def find_config_file(settings: Settings, data_dir: Path) -> Path | None:
    candidates = [settings.config_path, os.environ.get("EMOTION_CHAT_CONFIG", ""),
                  str(data_dir / CONFIG_FILENAME), str(PACKAGE_DIR / CONFIG_FILENAME)]
    for candidate in candidates:
        if candidate and Path(candidate).expanduser().is_file():
            return Path(candidate).expanduser()
    return None


def read_cloud_config(path: Path) -> tuple[str, str, str]:
    """(apiKey, projectId, storageBucket or "") from a web config JSON or an Android google-services.json."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"Cannot read the Firebase config {path}: {exc}") from exc
    if "project_info" in raw:  # google-services.json
        try:
            return (raw["client"][0]["api_key"][0]["current_key"], raw["project_info"]["project_id"],
                    raw["project_info"].get("storage_bucket", ""))
        except (KeyError, IndexError) as exc:
            raise ConfigError(f"{path} looks like google-services.json but has no api key") from exc
    api_key, project = raw.get("apiKey"), raw.get("projectId")
    if not api_key or not project:
        raise ConfigError(f"{path} needs both \"apiKey\" and \"projectId\" (the Firebase web config).")
    return api_key, project, str(raw.get("storageBucket") or "")


def read_app_check(path: Path) -> tuple[str, str]:
    """(app id, App Check debug token or "") from the config file read by read_cloud_config."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    if "project_info" in raw:  # google-services.json
        client = (raw.get("client") or [{}])[0]
        return str(client.get("client_info", {}).get("mobilesdk_app_id", "")), ""
    return str(raw.get("appId") or ""), str(raw.get("appCheckDebugToken") or "")


def resolve(settings: Settings, data_dir: Path) -> Backend:
    if settings.labels not in MODES:
        raise ConfigError(f"Unknown labels mode {settings.labels!r}: use cloud, hybrid, device or auto.")
    if settings.backend == "emulator":
        firestore = _with_port(settings.emulator_host or "127.0.0.1", FIRESTORE_EMULATOR_PORT)
        auth = settings.auth_emulator_host and _with_port(settings.auth_emulator_host, AUTH_EMULATOR_PORT)
        if not auth and not settings.unsigned_uid:
            raise ConfigError("With no Auth emulator host, set a test uid for unsigned tokens.")
        # A test uid wins over the Auth emulator: it is the explicit choice of a test run.
        return Backend(kind="emulator", project_id=settings.emulator_project or EMULATOR_PROJECT,
                       api_key=EMULATOR_API_KEY, firestore_url=f"http://{firestore}",
                       identity_url=f"http://{auth}/identitytoolkit.googleapis.com",
                       securetoken_url=f"http://{auth}/securetoken.googleapis.com",
                       unsigned_uid=settings.unsigned_uid,
                       storage_url=_storage_url(settings.storage_emulator_host),
                       bucket=settings.model_bucket if settings.storage_emulator_host else "")
    if settings.backend != "cloud":
        raise ConfigError(f"Unknown backend {settings.backend!r}: use 'cloud' or 'emulator'.")
    path = find_config_file(settings, data_dir)
    if path is None:
        raise ConfigError(f"No Firebase config file: put {CONFIG_FILENAME} (apiKey, projectId) in "
                          f"{data_dir} or pass --config, or choose the emulator in Settings.")
    api_key, project, bucket = read_cloud_config(path)
    app_id, debug_token = read_app_check(path)
    debug_token = os.environ.get("EMOTION_APPCHECK_DEBUG_TOKEN", debug_token)
    if debug_token and not app_id:
        raise ConfigError(f"An App Check debug token is set but {path} has no \"appId\": copy the app's "
                          "config from Project settings → Your apps again.")
    return Backend(kind="cloud", project_id=project, api_key=api_key,
                   firestore_url="https://firestore.googleapis.com",
                   identity_url="https://identitytoolkit.googleapis.com",
                   securetoken_url="https://securetoken.googleapis.com",
                   bucket=settings.model_bucket or bucket, app_id=app_id, app_check_debug_token=debug_token)
