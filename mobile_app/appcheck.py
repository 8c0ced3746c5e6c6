"""Firebase App Check for the app's REST calls: the `X-Firebase-AppCheck` header.

With App Check enforced on Firestore (and Storage), Google refuses a request that does not carry
a valid App Check token, whatever its ID token, so only a copy of this app can spend the owner's
money. There is no App Check SDK for Python, so the app uses the **debug provider**: the owner
registers a debug token for the app in the console (App Check → Apps → Manage debug tokens),
the device holds it (`EMOTION_APPCHECK_DEBUG_TOKEN`, or `appCheckDebugToken` in
firebase-app.json), and this module exchanges it for a short-lived App Check token through
`exchangeDebugToken`. The app's id comes from firebase-app.json (`appId`). Without a debug token
the header is not sent: fine against the emulators, which do not check App Check, and for a
project that does not enforce it. docs/DEPLOY.md, "App Check", says how to turn it on.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from mobile_app.auth import TIMEOUT

PRODUCTION_URL = "https://firebaseappcheck.googleapis.com"
HEADER = "X-Firebase-AppCheck"
MARGIN_S = 300.0
"""A token is exchanged again this long before it expires."""


class AppCheckError(Exception):
    """The debug token could not be exchanged; the message says what to fix."""


class DebugAppCheck:
    """App Check tokens from a registered debug token, cached until shortly before they expire."""

    def __init__(self, *, api_key: str, project_id: str, app_id: str, debug_token: str,
                 base_url: str = PRODUCTION_URL, http: requests.Session | None = None) -> None:
        if not app_id:
            raise AppCheckError("App Check needs the app's id: add \"appId\" (Project settings → Your apps) "
                                "to firebase-app.json")
        self.api_key, self.project_id, self.app_id = api_key, project_id, app_id
        self._debug_token = debug_token
        self.base_url = base_url.rstrip("/")
        self.http = http or requests.Session()
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._expires - MARGIN_S:
                self._token, ttl = self._exchange()
                self._expires = time.monotonic() + ttl
            return self._token

    def headers(self) -> dict[str, str]:
        return {HEADER: self.token()}

    def _exchange(self) -> tuple[str, float]:
        url = (f"{self.base_url}/v1/projects/{self.project_id}/apps/{self.app_id}:exchangeDebugToken"
               f"?key={self.api_key}")
        try:
            resp = self.http.post(url, json={"debugToken": self._debug_token}, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise AppCheckError(f"App Check unreachable ({type(exc).__name__}); will retry") from exc
        if resp.status_code != 200:
            raise AppCheckError(f"App Check refused the debug token (HTTP {resp.status_code}): register it "
                                "in the console (App Check → Apps → Manage debug tokens)")
        data: dict[str, Any] = resp.json()
        return str(data["token"]), _seconds(str(data.get("ttl", "3600s")))


def _seconds(ttl: str) -> float:
    """`"3600s"` or `"3600.5s"` (a protobuf Duration in JSON) -> 3600.0."""
    return float(ttl.rstrip("s") or 0)


def app_check_for(backend: Any) -> DebugAppCheck | None:
    """The App Check provider of a mobile_app.config.Backend: a DebugAppCheck when it has a debug
    token, else None (no header: the emulators, or a project that does not enforce App Check)."""
    if not backend.app_check_debug_token:
        return None
    return DebugAppCheck(api_key=backend.api_key, project_id=backend.project_id, app_id=backend.app_id,
                         debug_token=backend.app_check_debug_token)
