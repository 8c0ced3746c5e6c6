"""`python -m mobile_app` / `emotion-chat`: start the chat app, or drive it from a script.

Every flag has an environment variable twin (shown in --help); flags win. Backend flags apply to
this run only; the Settings screen is what saves them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mobile_app.messages import MODELS
from mobile_app.ondevice import DEFAULT_DEVICE_MODEL, MODES


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="emotion-chat",
        description="Chat, and see the emotion a cloud model reads in each message (Kivy app).",
        epilog="Examples:\n"
               "  emotion-chat                                   # saved settings (Settings screen)\n"
               "  emotion-chat --emulator 127.0.0.1:8080 --auth-emulator 127.0.0.1:9099\n"
               "  emotion-chat --config ~/firebase-app.json      # a real Firebase project\n"
               "  emotion-chat --labels hybrid                   # on-device label first, then the cloud's\n"
               "  emotion-chat --emulator 127.0.0.1:8080 --unsigned-uid alice \\\n"
               "      --script chat.txt --screenshot out.png     # headless, scripted conversation",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    backend = p.add_argument_group("backend")
    backend.add_argument("--backend", choices=["cloud", "emulator"], default=_env("EMOTION_CHAT_BACKEND"),
                         help="cloud (a Firebase project) or emulator [EMOTION_CHAT_BACKEND]")
    backend.add_argument("--config", default=_env("EMOTION_CHAT_CONFIG"),
                         help="Firebase web config JSON with apiKey and projectId, or google-services.json; "
                              "implies --backend cloud [EMOTION_CHAT_CONFIG]")
    backend.add_argument("--emulator", metavar="HOST[:PORT]", default=_env("FIRESTORE_EMULATOR_HOST"),
                         help="Firestore emulator (port 8080 if omitted); implies --backend emulator "
                              "[FIRESTORE_EMULATOR_HOST]")
    backend.add_argument("--auth-emulator", metavar="HOST[:PORT]",
                         default=_env("FIREBASE_AUTH_EMULATOR_HOST"),
                         help="Auth emulator (port 9099 if omitted) [FIREBASE_AUTH_EMULATOR_HOST]")
    backend.add_argument("--project", default=_env("EMOTION_CHAT_PROJECT", _env("GCLOUD_PROJECT")),
                         help="emulator project id (default demo-emotion) "
                              "[EMOTION_CHAT_PROJECT, GCLOUD_PROJECT]")
    backend.add_argument("--unsigned-uid", metavar="UID", default=_env("EMOTION_CHAT_UNSIGNED_UID"),
                         help="emulator only, no Auth emulator needed: act as UID with unsigned test tokens "
                              "[EMOTION_CHAT_UNSIGNED_UID]")
    p.add_argument("--model", choices=MODELS, default=_env("EMOTION_CHAT_MODEL"),
                   help="model for new messages [EMOTION_CHAT_MODEL]")
    device = p.add_argument_group("labels on the device (see docs/APP.md, On the device)")
    device.add_argument("--labels", choices=MODES, default=_env("EMOTION_CHAT_LABELS"),
                        help="cloud: the function labels every message; hybrid: an on-device label at once, "
                             "replaced by the cloud's; device: nothing leaves the device; auto: the device "
                             "when it is faster than the cloud or offline [EMOTION_CHAT_LABELS]")
    device.add_argument("--device-model", metavar="NAME", default=_env("EMOTION_CHAT_DEVICE_MODEL"),
                        help=f"model-store name the device runs (default {DEFAULT_DEVICE_MODEL}) "
                             "[EMOTION_CHAT_DEVICE_MODEL]")
    device.add_argument("--device-model-dir", metavar="DIR", default=_env("EMOTION_CHAT_DEVICE_MODEL_DIR"),
                        help="an artifact folder (manifest.json, model.onnx, tokenizer.json) to run instead "
                             "of looking for NAME [EMOTION_CHAT_DEVICE_MODEL_DIR]")
    device.add_argument("--model-bucket", metavar="BUCKET", default=_env("EMOTION_CHAT_MODEL_BUCKET"),
                        help="Cloud Storage bucket to fetch the device model from (default: the config's "
                             "storageBucket) [EMOTION_CHAT_MODEL_BUCKET]")
    device.add_argument("--storage-emulator", metavar="HOST[:PORT]",
                        default=_env("FIREBASE_STORAGE_EMULATOR_HOST"),
                        help="emulator only: fetch the device model from this Storage emulator (port 9199 "
                             "if omitted), with --model-bucket [FIREBASE_STORAGE_EMULATOR_HOST]")
    p.add_argument("--data-dir", type=Path, default=_env("EMOTION_CHAT_DATA_DIR"),
                   help="where history, outbox, settings and session live (default: the platform's "
                        "App.user_data_dir, e.g. ~/.config/emotionchat) [EMOTION_CHAT_DATA_DIR]")
    p.add_argument("--size", metavar="WxH", default=_env("EMOTION_CHAT_SIZE"),
                   help="window size on a desktop, e.g. 480x800 or 800x480 [EMOTION_CHAT_SIZE]")
    p.add_argument("--fullscreen", action="store_true", help="full screen (a Pi touchscreen kiosk)")
    driver = p.add_argument_group("scripted run (see mobile_app/driver.py)")
    driver.add_argument("--script", type=Path, help="send each line of FILE through the UI, print each "
                                                    "message and its label as JSON lines, then exit")
    driver.add_argument("--screenshot", type=Path, help="with --script: save a PNG of the window at the end")
    driver.add_argument("--timeout", type=float, default=60.0, help="with --script: seconds to wait for "
                                                                     "each label (default 60)")
    return p


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    overrides: dict[str, object] = {"model": args.model, "labels": args.labels,
                                    "device_model": args.device_model, "model_bucket": args.model_bucket,
                                    "storage_emulator_host": args.storage_emulator}
    if args.device_model_dir:
        overrides["device_model_dir"] = str(Path(args.device_model_dir).expanduser().resolve())
    if args.config:
        overrides.update(backend="cloud", config_path=str(Path(args.config).expanduser().resolve()))
    if args.emulator:
        overrides.update(backend="emulator", emulator_host=args.emulator)
    if args.auth_emulator:
        overrides["auth_emulator_host"] = args.auth_emulator
    if args.unsigned_uid:
        overrides.update(backend="emulator", unsigned_uid=args.unsigned_uid)
    if args.project:
        overrides["emulator_project"] = args.project
    if args.backend:
        overrides["backend"] = args.backend
    return {k: v for k, v in overrides.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.screenshot and not args.script:
        build_parser().error("--screenshot needs --script")
    # Kivy reads these at its first import: our flags are not Kivy's, and a scripted run logs
    # through Python logging to stderr, so stdout carries only the JSON lines.
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    if args.script:
        os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")
    from kivy.config import Config

    if args.size:
        width, _, height = args.size.lower().partition("x")
        Config.set("graphics", "width", str(int(width)))
        Config.set("graphics", "height", str(int(height)))
    if args.fullscreen:
        Config.set("graphics", "fullscreen", "auto")
    Config.set("kivy", "exit_on_escape", "0")  # Android's back key is Escape: never quit mid-chat

    from mobile_app.app import EmotionChatApp

    app = EmotionChatApp(data_dir=args.data_dir, overrides=overrides_from(args))
    if args.script:
        from mobile_app.driver import ScriptDriver, parse_script

        steps = parse_script(args.script.read_text(encoding="utf-8"))
        # Kivy's Clock holds callbacks weakly: the app keeps the driver alive.
        app.driver = ScriptDriver(app, steps, args.screenshot, timeout_s=args.timeout)
        app.driver.start()
    app.run()
    return app.exit_code


if __name__ == "__main__":
    sys.exit(main())
