"""The Kivy app: sign-in, chat and settings screens over the sync engine.

Threading: Kivy widgets belong to the UI thread. Sign-in runs on a short-lived thread, delivery
and polling on the sync engine's thread; both come back with `Clock.schedule_once`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import StringProperty
from kivy.uix.screenmanager import NoTransition, ScreenManager

from mobile_app.appcheck import app_check_for
from mobile_app.auth import AuthError, FirebaseAuth, TokenProvider, UnsignedTokens
from mobile_app.config import Backend, ConfigError, Settings, find_config_file, resolve
from mobile_app.firestore_rest import FirestoreClient
from mobile_app.messages import MODELS, InvalidInput, State
from mobile_app.ondevice import DEFAULT_DEVICE_MODEL, MODES, DeviceLabeller, StorageSource, needs_device_model
from mobile_app.store import MessageStore
from mobile_app.sync import SyncEngine
from mobile_app.widgets import ChatScreen, MessageBubble, SettingsScreen, SignInScreen

log = logging.getLogger(__name__)
KV_FILE = Path(__file__).with_name("screens.kv")
# Bubbles built at start and per "Show earlier" tap: each is a dozen widgets and textures, so
# start-up time and memory stay flat however long the history on the device grows.
PAGE = 30


class EmotionChatApp(App):
    title = "Emotion chat"
    use_kivy_settings = False
    model = StringProperty("default")
    status_text = StringProperty("")
    backend_text = StringProperty("")

    def __init__(self, data_dir: Path | None = None, overrides: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._data_dir = data_dir
        self.overrides = overrides or {}
        self.backend: Backend | None = None
        self.tokens: TokenProvider | None = None
        self.engine: SyncEngine | None = None
        self.store: MessageStore | None = None
        self.labeller: DeviceLabeller | None = None
        self.bubbles: dict[str, MessageBubble] = {}
        self.shown_from = 0.0  # bubbles exist for messages created at or after this (created_local)
        self._auth: FirebaseAuth | None = None
        self._previous_screen = "signin"
        self.exit_code = 0
        self.driver: object | None = None  # a ScriptDriver, when --script drives this run

    # App.user_data_dir is per platform (~/.config/emotionchat, Android's private files dir);
    # --data-dir moves it, so tests and benchmarks never touch a person's real history.
    @property
    def user_data_dir(self) -> str:  # type: ignore[override]
        if self._data_dir is None:
            self._data_dir = Path(super().user_data_dir)
        self._data_dir.mkdir(parents=True, exist_ok=True)
        return str(self._data_dir)

    @property
    def data_dir(self) -> Path:
        return Path(self.user_data_dir)

    @property
    def settings_path(self) -> Path:
        return self.data_dir / "settings.json"

    # --- start-up -----------------------------------------------------------------------------

    def build(self) -> ScreenManager:
        Builder.load_file(str(KV_FILE))
        manager = ScreenManager(transition=NoTransition())
        for screen in (SignInScreen(), ChatScreen(), SettingsScreen()):
            manager.add_widget(screen)
        self.prefs = self._load_prefs()
        self.model = self.prefs.model
        Window.bind(on_keyboard=self._on_key)
        return manager

    def _on_key(self, window: object, key: int, *largs: object) -> bool:
        # Escape is Android's back button: leave Settings; elsewhere let Android background the app.
        if key == 27 and self.root.current == "settings":
            self.close_settings(save=False)
            return True
        return False

    def _load_prefs(self) -> Settings:
        fresh = not self.settings_path.exists()
        prefs = Settings.load(self.settings_path)
        if fresh and find_config_file(prefs, self.data_dir) is not None:
            prefs.backend = "cloud"  # an app shipped with its project's config starts on it
        return replace(prefs, **{k: v for k, v in self.overrides.items() if v is not None})

    def on_start(self) -> None:
        self.connect()

    def connect(self) -> None:
        """Resolve the backend; open the chat when a session exists, else the sign-in screen.

        In `device` mode there is no backend: the chat opens at once and nothing is sent."""
        self.stop_engine()
        self.tokens = None
        self._start_labeller()
        if self.prefs.labels == "device":
            self.backend = None
            self.backend_text = "on this device only (nothing is sent)"
            self.open_chat()
            return
        try:
            self.backend = resolve(self.prefs, self.data_dir)
        except ConfigError as err:
            self.backend = None
            self.backend_text = "not set"
            self._signin_message(str(err), error=True)
            self.root.current = "signin"
            return
        self.backend_text = self.backend.description
        if self.backend.unsigned_uid:
            self.tokens = UnsignedTokens(self.backend.unsigned_uid, self.backend.project_id)
        else:
            # One session per backend: switching to the emulator and back keeps the cloud sign-in.
            auth = FirebaseAuth(self.backend.api_key, self.backend.identity_url, self.backend.securetoken_url,
                                self.data_dir / f"session-{self.backend.slug}.json")
            self._auth = auth
            if not auth.signed_in:
                self._signin_message("", error=False)
                self.root.current = "signin"
                return
            self.tokens = auth
        self.open_chat()

    # --- sign-in ------------------------------------------------------------------------------

    def sign_in(self, method: str, email: str = "", password: str = "") -> None:
        screen: SignInScreen = self.root.get_screen("signin")
        if self.backend is None:
            self._signin_message("Choose a backend in Settings first.", error=True)
            return
        if self.backend.unsigned_uid:
            self.tokens = UnsignedTokens(self.backend.unsigned_uid, self.backend.project_id)
            self.open_chat()
            return
        if method != "anonymous" and (not email.strip() or not password):
            self._signin_message("Type your email and password.", error=True)
            return
        auth = self._auth
        assert auth is not None  # connect() made it for this backend
        calls: dict[str, Callable[[], object]] = {
            "anonymous": auth.sign_in_anonymously,
            "email": lambda: auth.sign_in_with_email(email.strip(), password),
            "register": lambda: auth.sign_up_with_email(email.strip(), password),
        }
        screen.busy = True
        self._signin_message("Signing in…", error=False)

        def work() -> None:
            try:
                calls[method]()
            except AuthError as err:
                message = str(err)
                Clock.schedule_once(lambda dt: self._signed_in(None, message))
            else:
                Clock.schedule_once(lambda dt: self._signed_in(auth, ""))

        threading.Thread(target=work, name="sign-in", daemon=True).start()

    def _signed_in(self, auth: FirebaseAuth | None, error: str) -> None:
        self.root.get_screen("signin").busy = False
        if auth is None:
            self._signin_message(error, error=True)
            return
        self._signin_message("", error=False)
        self.tokens = auth
        self.open_chat()

    def _signin_message(self, text: str, error: bool) -> None:
        screen: SignInScreen = self.root.get_screen("signin")
        screen.message, screen.is_error = text, error

    def sign_out(self) -> None:
        self.stop_engine()
        if isinstance(self.tokens, FirebaseAuth):
            self.tokens.sign_out()
        self.tokens = None
        self.store = None
        self._clear_bubbles()
        self._signin_message("Signed out.", error=False)
        self.root.current = "signin"

    # --- chat ---------------------------------------------------------------------------------

    def open_chat(self) -> None:
        self.stop_engine()
        mode = self.prefs.labels
        if mode == "device":
            self.store = MessageStore.for_user(self.data_dir / "device", "device")
            client = None
        else:
            assert self.tokens is not None and self.backend is not None
            self.store = MessageStore.for_user(self.data_dir / self.backend.slug, self.tokens.uid or "")
            client = FirestoreClient(self.backend.firestore_url, self.backend.project_id, self.tokens,
                                     app_check=app_check_for(self.backend))
            if self.labeller is not None and self.labeller.source is None and self.backend.bucket:
                self.labeller.source = StorageSource(self.backend.storage_url, self.backend.bucket,
                                                     self.tokens.id_token, app_check=client.app_check)
        self.engine = SyncEngine(
            self.store, client, on_change=self._from_engine,
            on_auth_lost=lambda msg: Clock.schedule_once(lambda dt: self._auth_lost(msg)),
            labeller=self.labeller, mode=mode)
        self._clear_bubbles()
        self.refresh_messages()
        self.root.current = "chat"
        self.engine.start()

    def _start_labeller(self) -> None:
        """Load the on-device model in the background when the labels mode needs one."""
        prefs = self.prefs
        if not needs_device_model(prefs.labels):
            self.labeller = None
            return
        wanted = (prefs.device_model or DEFAULT_DEVICE_MODEL, prefs.device_model_dir)
        if self.labeller is not None and (self.labeller.name, self.labeller.explicit) == wanted:
            return
        self.labeller = DeviceLabeller(name=wanted[0], explicit=wanted[1], data_dir=self.data_dir).start(
            on_ready=lambda labeller: Clock.schedule_once(lambda dt: self._labeller_ready(labeller)))

    def _labeller_ready(self, labeller: DeviceLabeller) -> None:
        if labeller is not self.labeller:
            return
        self.root.get_screen("settings").device_status = labeller.status
        if self.engine is not None:
            self.engine.label_unlabelled()
        self._update_status(self.store.all() if self.store else [])

    def _from_engine(self, ids: list[str]) -> None:
        # Called on the sync thread: only the UI thread may touch widgets.
        Clock.schedule_once(lambda dt: self.refresh_messages(ids))

    def _auth_lost(self, message: str) -> None:
        self.stop_engine()
        if isinstance(self.tokens, FirebaseAuth):
            self.tokens.sign_out()
        self.tokens = None
        self._clear_bubbles()
        self.connect()
        self._signin_message(f"{message} Your unsent messages are kept.", error=True)

    def refresh_messages(self, ids: list[str] | None = None, older_page: bool = False) -> None:
        """Show the store: new bubbles at the bottom, changed ones updated in place."""
        if self.store is None:
            return
        chat: ChatScreen = self.root.get_screen("chat")
        container = chat.ids.bubbles
        added = False
        messages = self.store.all()
        if not self.bubbles and len(messages) > PAGE:
            self.shown_from = messages[-PAGE].created_local
        chat.has_earlier = bool(messages) and messages[0].created_local < self.shown_from
        for msg in messages:
            if msg.created_local < self.shown_from:
                continue
            if ids is not None and msg.id not in ids and msg.id in self.bubbles:
                continue
            bubble = self.bubbles.get(msg.id)
            if bubble is None:
                bubble = self.bubbles[msg.id] = MessageBubble()
                # Oldest first in the store; a history merged from the server may land in the middle.
                position = sum(1 for m in messages
                               if m.id in self.bubbles and m.created_local > msg.created_local)
                container.add_widget(bubble, index=position)
                added = True
            bubble.show(msg)
        self._update_status(messages)
        if added and not older_page:
            Clock.schedule_once(lambda dt: setattr(chat.ids.scroller, "scroll_y", 0), 0)

    def show_earlier(self) -> None:
        if self.store is None:
            return
        older = [m for m in self.store.all() if m.created_local < self.shown_from]
        self.shown_from = older[-PAGE].created_local if len(older) > PAGE else 0.0
        self.refresh_messages(older_page=True)

    def _update_status(self, messages: list) -> None:
        waiting = sum(1 for m in messages if m.state is State.QUEUED)
        working = sum(1 for m in messages if m.state in (State.SENT, State.PROCESSING))
        parts = [self.backend_text]
        if self.labeller is not None and self.labeller.failed:
            parts.append("no on-device labels (see Settings)")
        if waiting:
            parts.append(f"{waiting} waiting to send")
        if working:
            parts.append(f"{working} being classified")
        self.status_text = " · ".join(parts)

    def _clear_bubbles(self) -> None:
        if self.root is not None:
            container = self.root.get_screen("chat").ids.bubbles
            for bubble in self.bubbles.values():
                container.remove_widget(bubble)
        self.bubbles.clear()
        self.shown_from = 0.0

    def send_from_entry(self) -> None:
        chat: ChatScreen = self.root.get_screen("chat")
        entry = chat.ids.entry
        if self.engine is None:
            chat.hint, chat.hint_is_error = "Not signed in.", True
            return
        try:
            self.engine.send(entry.text, self.model)
        except InvalidInput as err:
            chat.hint, chat.hint_is_error = str(err), True
            return
        entry.text = ""
        chat.hint, chat.hint_is_error = "", False
        self.refresh_messages()

    def retry(self, message_id: str) -> None:
        if self.engine is not None:
            self.engine.retry(message_id)
            self.refresh_messages()

    def choose_model(self, model: str) -> None:
        if model in MODELS and model != self.prefs.model:
            self.model = model
            self.prefs.model = model
            self.prefs.save(self.settings_path)

    # --- settings -----------------------------------------------------------------------------

    def show_settings(self) -> None:
        screen: SettingsScreen = self.root.get_screen("settings")
        self._previous_screen = self.root.current
        prefs = self.prefs
        screen.backend = prefs.backend
        for key in ("config_path", "emulator_host", "auth_emulator_host", "emulator_project", "unsigned_uid"):
            screen.ids[key].text = getattr(prefs, key)
        screen.ids.model.text = prefs.model
        screen.ids.labels.text = prefs.labels
        screen.ids.device_model.text = prefs.device_model
        screen.device_status = (self.labeller.status if self.labeller
                                else "on-device model: not used in cloud mode")
        screen.message, screen.is_error = "", False
        if self.tokens is not None and self.tokens.uid:
            who = getattr(getattr(self.tokens, "session", None), "email", "") or "guest"
            screen.account = f"Signed in as {who} (uid {self.tokens.uid}) on {self.backend_text}."
        else:
            screen.account = ""
        self.root.current = "settings"

    def close_settings(self, save: bool) -> None:
        screen: SettingsScreen = self.root.get_screen("settings")
        if not save:
            self.root.current = self._previous_screen
            return
        labels = screen.ids.labels.text if screen.ids.labels.text in MODES else "cloud"
        updated = replace(self.prefs, backend=screen.backend, model=screen.ids.model.text or "default",
                          labels=labels,
                          device_model=screen.ids.device_model.text.strip() or DEFAULT_DEVICE_MODEL,
                          **{k: screen.ids[k].text.strip() for k in
                             ("config_path", "emulator_host", "auth_emulator_host", "emulator_project",
                              "unsigned_uid")})
        try:
            backend = None if updated.labels == "device" else resolve(updated, self.data_dir)
        except ConfigError as err:
            screen.message, screen.is_error = str(err), True
            return
        changed_backend = (backend != self.backend or updated.labels != self.prefs.labels
                           or updated.device_model != self.prefs.device_model)
        self.prefs = updated
        self.prefs.save(self.settings_path)
        self.model = updated.model
        if changed_backend:
            self.connect()
        else:
            self.root.current = self._previous_screen

    def open_settings(self, *largs: object) -> bool:
        # F1 / the Android menu key: our settings screen, not Kivy's own panel.
        self.show_settings()
        return True

    # --- life cycle ---------------------------------------------------------------------------

    def stop_engine(self) -> None:
        if self.engine is not None:
            self.engine.stop()
            self.engine = None

    def on_pause(self) -> bool:
        return True  # Android: keep running in the background; the outbox is on disk anyway

    def on_resume(self) -> None:
        if self.engine is not None:
            self.engine.kick(reset=True)  # back from the background: maybe back online too

    def on_stop(self) -> None:
        self.stop_engine()
