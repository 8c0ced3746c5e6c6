"""Who the person is, as Firestore sees it: an ID token, refreshed before it expires.

`TokenProvider` is what the Firestore client needs. `FirebaseAuth` speaks the Firebase Auth REST
API (anonymous or email/password sign-in, token refresh) to Google or to the Auth emulator;
`UnsignedTokens` makes the unsigned JWTs the Firestore emulator accepts, for runs and tests with
no Auth emulator. Both are plain blocking code: call them off the UI thread.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import requests

from mobile_app.store import atomic_write_json, read_json

# Refresh this long before expiry, so a token never dies between being read and being used.
REFRESH_MARGIN_S = 300.0
TIMEOUT = (5.0, 15.0)  # (connect, read) seconds


class AuthError(Exception):
    """Sign-in or refresh failed. `transient`: worth retrying later (network, 5xx)."""

    def __init__(self, message: str, *, code: str = "", transient: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


class TokenProvider(Protocol):
    @property
    def uid(self) -> str | None: ...

    def id_token(self) -> str:
        """A token valid for a while yet (refreshing it first when it is about to expire)."""
        ...

    def refresh(self) -> str:
        """A fresh token now: the server said the last one was no good (HTTP 401)."""
        ...


class UnsignedTokens:
    """Unsigned (alg=none) ID tokens for one uid: only the Firestore emulator accepts them."""

    def __init__(self, uid: str, project: str, lifetime_s: int = 3600) -> None:
        self._uid = uid
        self.project = project
        self.lifetime_s = lifetime_s
        self.issued = 0

    @property
    def uid(self) -> str:
        return self._uid

    def id_token(self) -> str:
        return self.refresh()

    def refresh(self) -> str:
        self.issued += 1
        now = int(time.time())
        payload = {"iss": f"https://securetoken.google.com/{self.project}", "aud": self.project,
                   "sub": self._uid, "user_id": self._uid, "iat": now, "exp": now + self.lifetime_s,
                   "auth_time": now, "firebase": {"sign_in_provider": "anonymous", "identities": {}}}
        return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).rstrip(b"=").decode()


@dataclass
class Session:
    uid: str
    refresh_token: str
    id_token: str = ""
    expires_at: float = 0.0  # wall clock (time.time()), so it survives a restart
    email: str = ""
    anonymous: bool = True


# Auth REST error codes → what the person should do. Codes arrive as "CODE" or "CODE : detail".
_HUMAN_ERRORS = {
    "EMAIL_EXISTS": "An account with this email already exists: sign in instead.",
    "EMAIL_NOT_FOUND": "No account with this email: create one, or check the spelling.",
    "INVALID_PASSWORD": "Wrong password.",
    "INVALID_LOGIN_CREDENTIALS": "Wrong email or password.",
    "INVALID_EMAIL": "That does not look like an email address.",
    "MISSING_PASSWORD": "Type a password.",
    "WEAK_PASSWORD": "Choose a password of at least 6 characters.",
    "USER_DISABLED": "This account has been disabled.",
    "TOO_MANY_ATTEMPTS_TRY_LATER": "Too many attempts: wait a minute and try again.",
    "OPERATION_NOT_ALLOWED": "This sign-in method is turned off for the project "
                             "(Firebase console → Authentication → Sign-in method).",
    "ADMIN_ONLY_OPERATION": "Anonymous sign-in is turned off for the project "
                            "(Firebase console → Authentication → Sign-in method).",
    "TOKEN_EXPIRED": "Your sign-in has expired: sign in again.",
    "INVALID_REFRESH_TOKEN": "Your sign-in is no longer valid: sign in again.",
    "USER_NOT_FOUND": "This account no longer exists: sign in again.",
    "API_KEY_INVALID": "The apiKey in the Firebase config file is not valid for this project.",
}


class FirebaseAuth:
    """Firebase Auth over REST. The session (refresh token) persists in `session_path`."""

    def __init__(self, api_key: str, identity_url: str, securetoken_url: str, session_path: Path,
                 http: requests.Session | None = None, clock: Any = time.time) -> None:
        self.api_key = api_key
        self.identity_url = identity_url.rstrip("/")
        self.securetoken_url = securetoken_url.rstrip("/")
        self.session_path = session_path
        self.http = http or requests.Session()
        self.clock = clock
        self._lock = threading.Lock()
        raw = read_json(session_path)
        self.session: Session | None = Session(**raw) if isinstance(raw, dict) else None

    @property
    def uid(self) -> str | None:
        return self.session.uid if self.session else None

    @property
    def signed_in(self) -> bool:
        return self.session is not None

    # --- sign-in ------------------------------------------------------------------------------

    def sign_in_anonymously(self) -> Session:
        return self._sign_in("accounts:signUp", {"returnSecureToken": True}, email="")

    def sign_up_with_email(self, email: str, password: str) -> Session:
        return self._sign_in("accounts:signUp",
                             {"email": email, "password": password, "returnSecureToken": True}, email=email)

    def sign_in_with_email(self, email: str, password: str) -> Session:
        return self._sign_in("accounts:signInWithPassword",
                             {"email": email, "password": password, "returnSecureToken": True}, email=email)

    def sign_out(self) -> None:
        with self._lock:
            self.session = None
            self.session_path.unlink(missing_ok=True)

    def _sign_in(self, endpoint: str, body: dict[str, Any], email: str) -> Session:
        data = self._post(f"{self.identity_url}/v1/{endpoint}", json=body)
        session = Session(uid=data["localId"], refresh_token=data["refreshToken"], id_token=data["idToken"],
                          expires_at=self.clock() + float(data.get("expiresIn", 3600)),
                          email=data.get("email", email), anonymous=not email)
        with self._lock:
            self.session = session
            self._persist()
        return session

    # --- tokens -------------------------------------------------------------------------------

    def id_token(self) -> str:
        with self._lock:
            session = self._require_session()
            if session.id_token and self.clock() < session.expires_at - REFRESH_MARGIN_S:
                return session.id_token
        return self.refresh()

    def refresh(self) -> str:
        with self._lock:
            session = self._require_session()
            data = self._post(f"{self.securetoken_url}/v1/token",
                              data={"grant_type": "refresh_token", "refresh_token": session.refresh_token})
            session.id_token = data["id_token"]
            session.refresh_token = data.get("refresh_token", session.refresh_token)
            session.expires_at = self.clock() + float(data.get("expires_in", 3600))
            self._persist()
            return session.id_token

    def _require_session(self) -> Session:
        if self.session is None:
            raise AuthError("Not signed in.", code="NOT_SIGNED_IN")
        return self.session

    def _persist(self) -> None:
        if self.session is not None:
            atomic_write_json(self.session_path, asdict(self.session))

    def _post(self, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            resp = self.http.post(url, params={"key": self.api_key}, timeout=TIMEOUT, **kwargs)
        except requests.RequestException as exc:
            raise AuthError(f"Cannot reach the sign-in server ({type(exc).__name__}); "
                            "check the connection.", code="NETWORK", transient=True) from exc
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code == 200 and isinstance(data, dict):
            return data
        raw = str((data.get("error") or {}).get("message", "")) if isinstance(data, dict) else ""
        code = raw.split(":")[0].strip() or f"HTTP_{resp.status_code}"
        transient = resp.status_code >= 500 or resp.status_code == 429
        human = _HUMAN_ERRORS.get(code) or (
            "The sign-in server is busy; trying again shortly." if transient
            else f"Sign-in failed ({raw or resp.status_code}).")
        if code.startswith("API key not valid"):
            human = _HUMAN_ERRORS["API_KEY_INVALID"]
        raise AuthError(human, code=code, transient=transient)
