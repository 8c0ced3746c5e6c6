"""Labels on the device: the function's own runtime (chat_emotion.runtime) inside the app.

Modes (Settings, `--labels`, `$EMOTION_CHAT_LABELS`):

- `cloud`: every label comes from the Cloud Function (nothing runs here).
- `hybrid`: a message gets an immediate on-device label, marked "on device" on its chip; the
  cloud's replaces it when it arrives (replaced, never merged). The message is sent as always.
- `device`: nothing leaves the device: no sign-in, no Firestore; the label is the device's and
  final. What it gives up: history on other devices, the server's larger models (`minilm`,
  `goemotions`), and the cloud's sweep that finishes what a crash left behind.
- `auto`: the device label is shown when the device is faster than the cloud's recent round trip
  (its own measured latency against the last tap → label times), or when the cloud can't be
  reached; otherwise the app waits for the cloud, as in `cloud`. The rule and the matrix it comes
  from: docs/APP.md "On the device".

The model: a model-store artifact (manifest.json + model.onnx + tokenizer.json), sha256-verified
before it is loaded, found in this order: `--device-model DIR`, a copy bundled with the install
(`mobile_app/device_model/<name>/`, what `make device-model` puts there for buildozer and the Pi),
the repository's own `models/store` when the app runs from a clone, the app's cache
(`<data dir>/models/<name>/<version>/`), and last a download from the project's model bucket
(Firebase Storage, signed-in read of `models/**`, see storage.rules) into that cache.

Two engines run it (`pick_engine`): ONNX Runtime and `tokenizers`, the `ondevice` extra (`pip install
'.[app,ondevice]'`), when they import; otherwise numpy alone (chat_emotion.numpy_runtime: the same
decisions, ~4x slower), which is what Android (python-for-android has a numpy recipe, none for ONNX
Runtime or tokenizers) and 32-bit Raspberry Pi OS (no onnxruntime wheel) get. Settings names the
engine. With neither, the labeller says so once and the app carries on with the cloud.
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mobile_app.messages import Emotion

log = logging.getLogger(__name__)

MODES: tuple[str, ...] = ("cloud", "hybrid", "device", "auto")
DEFAULT_DEVICE_MODEL = "minilm-l2"
"""The on-device model by default: the cloud's own default, so a provisional label is the label the
cloud then writes (a 1.7 MB student disagrees with it on 7-9% of val: the chip would change under
the person's eyes); its 16 MB sit beside a ~200 MB runtime, and it labels in well under 10 ms even
at a Pi 3's simulated speed (docs/APP.md "On the device", benchmarks/device_matrix.py)."""
PACKAGE_DIR = Path(__file__).resolve().parent
BUNDLED_DIR = PACKAGE_DIR / "device_model"
REPO_STORE = PACKAGE_DIR.parent / "models" / "store"
ARTIFACT_FILES = ("manifest.json", "model.onnx", "tokenizer.json")
DOWNLOAD_TIMEOUT = (5.0, 30.0)


class DeviceModelError(Exception):
    """The on-device model cannot be used; the message says why and what to do."""


def needs_device_model(mode: str) -> bool:
    return mode in ("hybrid", "device", "auto")


# --- where the model comes from -----------------------------------------------------------------

def _store_version(store: Path, name: str) -> Path | None:
    """`<store>/<name>/<LATEST>` when the folder is laid out as the model store."""
    pointer = store / name / "LATEST"
    if not pointer.is_file():
        return None
    version = pointer.read_text(encoding="utf-8").strip()
    folder = store / name / version
    return folder if (folder / "manifest.json").is_file() else None


def local_candidates(name: str, data_dir: Path, explicit: str = "") -> list[Path]:
    """Folders that may hold the artifact, most specific first (the first that verifies wins).

    A folder the person named (`--device-model`) is the only candidate: when it is broken they are
    told so, rather than given some other copy without a word."""
    if explicit:
        return [Path(explicit).expanduser()]
    found: list[Path] = []
    if (BUNDLED_DIR / name / "manifest.json").is_file():
        found.append(BUNDLED_DIR / name)
    for store in (REPO_STORE, data_dir / "models"):
        folder = _store_version(store, name)
        if folder is not None:
            found.append(folder)
    return found


@dataclass
class StorageSource:
    """The project's model bucket through the Firebase Storage REST API (what storage.rules guards).

    `base_url` is https://firebasestorage.googleapis.com, or the Storage emulator's http://host:9199.
    Objects: `<prefix>/<name>/LATEST` and `<prefix>/<name>/<version>/<file>`, as `training publish`
    and `gcloud storage cp -r models/store/* gs://BUCKET/models/` lay them out (docs/DEPLOY.md).
    """

    base_url: str
    bucket: str
    id_token: Callable[[], str]
    prefix: str = "models"
    app_check: Any = None
    """A mobile_app.appcheck.DebugAppCheck: its X-Firebase-AppCheck header goes on each download."""

    def _get(self, path: str) -> bytes:
        import requests

        from mobile_app.appcheck import AppCheckError

        url = (f"{self.base_url.rstrip('/')}/v0/b/{self.bucket}/o/"
               f"{urllib.parse.quote(f'{self.prefix}/{path}', safe='')}")
        try:
            headers = {"Authorization": f"Firebase {self.id_token()}"}
            if self.app_check is not None:
                headers.update(self.app_check.headers())
            response = requests.get(url, params={"alt": "media"}, timeout=DOWNLOAD_TIMEOUT, headers=headers)
        except (requests.RequestException, AppCheckError) as exc:
            raise DeviceModelError(f"could not download {path} from the model bucket: {exc}") from exc
        if response.status_code != 200:
            raise DeviceModelError(
                f"the model bucket answered {response.status_code} for {self.prefix}/{path}"
                + (" (storage.rules must allow signed-in reads of models/**: deploy them)"
                   if response.status_code in (401, 403) else ""))
        return response.content

    def download(self, name: str, cache: Path) -> Path:
        """Fetch `name`'s LATEST into `cache/<name>/<version>/`; the caller verifies it."""
        version = self._get(f"{name}/LATEST").decode("utf-8").strip()
        if not version or "/" in version or version.startswith("."):
            raise DeviceModelError(f"the model bucket's {name}/LATEST holds no valid version")
        folder = cache / name / version
        partial = folder.with_name(f".{version}.partial")
        partial.mkdir(parents=True, exist_ok=True)
        for file_name in ARTIFACT_FILES:
            (partial / file_name).write_bytes(self._get(f"{name}/{version}/{file_name}"))
        if folder.exists():
            _remove_tree(folder)
        partial.rename(folder)
        (cache / name / "LATEST").write_text(version + "\n", encoding="utf-8")
        return folder


def _remove_tree(folder: Path) -> None:
    for child in folder.iterdir():
        _remove_tree(child) if child.is_dir() else child.unlink()
    folder.rmdir()


ENGINE_MODULES = ("__init__", "artifact", "labels", "protowire", "onnx_reader", "numpy_graph",
                  "numpy_runtime", "text_tokenizer")
"""chat_emotion's numpy engine and what it imports: numpy and the standard library only."""


def bundle_engine(dest: Path = BUNDLED_DIR) -> Path:
    """Copy the numpy engine's modules into `dest/chat_emotion/`, for an APK: buildozer packs only
    mobile_app/, and mobile_app/main.py puts `device_model/` on sys.path when chat_emotion is not
    installed. A build artifact like the model beside it (ignored by git), not a second source."""
    import chat_emotion

    source = Path(chat_emotion.__file__).parent
    target = dest / "chat_emotion"
    if target.exists():
        _remove_tree(target)
    target.mkdir(parents=True)
    for module in ENGINE_MODULES:
        (target / f"{module}.py").write_bytes((source / f"{module}.py").read_bytes())
    return target


def bundle(name: str, store: Path = REPO_STORE, dest: Path = BUNDLED_DIR) -> Path:
    """Copy `name`'s LATEST artifact from `store` into `dest/<name>/` (what the install carries),
    verified before and after the copy, and the numpy engine beside it; returns the model's folder."""
    from chat_emotion.artifact import verify_artifact

    source = _store_version(store, name)
    if source is None:
        raise DeviceModelError(f"{store} has no model {name!r} (no {name}/LATEST with a manifest.json)")
    verify_artifact(source)
    target = dest / name
    if target.exists():
        _remove_tree(target)
    target.mkdir(parents=True)
    for file_name in ARTIFACT_FILES:
        (target / file_name).write_bytes((source / file_name).read_bytes())
    verify_artifact(target)
    bundle_engine(dest)
    return target


def main(argv: list[str] | None = None) -> int:
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["label"]:
        return label_main(argv[1:])
    return bundle_main(argv)


def bundle_main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mobile_app.ondevice",
        description="Bundle the on-device model with the app: copy a model-store artifact into "
                    f"{BUNDLED_DIR.relative_to(PACKAGE_DIR.parent)}/NAME/, where the app looks first after "
                    "--device-model (`make device-model` runs this); buildozer packs it into the APK. "
                    "`python -m mobile_app.ondevice label --help`: label texts on this machine.")
    parser.add_argument("name", nargs="?", default=DEFAULT_DEVICE_MODEL,
                        help=f"model-store name (default {DEFAULT_DEVICE_MODEL})")
    parser.add_argument("--store", type=Path, default=REPO_STORE, help=f"model store (default {REPO_STORE})")
    parser.add_argument("--dest", type=Path, default=BUNDLED_DIR,
                        help=f"where to put it (default {BUNDLED_DIR})")
    args = parser.parse_args(argv)
    from chat_emotion.artifact import ArtifactError

    try:
        folder = bundle(args.name, args.store, args.dest)
    except (ArtifactError, DeviceModelError, OSError) as err:  # say why, no traceback
        parser.exit(1, f"error: {err}\n")
    size = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
    print(f"bundled {args.name} ({size:.1f} MB, sha256 verified) in {folder}, and the numpy engine in "
          f"{folder.parent / 'chat_emotion'}")
    return 0


def label_main(argv: list[str]) -> int:
    """`python -m mobile_app.ondevice label --model-dir DIR TEXT...`: one `label<TAB>text` line a text."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mobile_app.ondevice label",
        description="Label texts with a model artifact on this machine, as the app does on the device: "
                    "ONNX Runtime when it imports, else numpy alone (a Python with only numpy installed "
                    "and the project on PYTHONPATH is enough). Prints one line a text: the label (a "
                    "multi-label model's labels joined by '+'), a tab, the text. Example: python -m "
                    "mobile_app.ondevice label --model-dir models/store/minilm-l2/2026-12-04 'I feel great'")
    parser.add_argument("texts", nargs="+", metavar="TEXT", help="texts to label")
    parser.add_argument("--model-dir", required=True, type=Path,
                        help="artifact folder (manifest.json, model.onnx, tokenizer.json), e.g. "
                             "models/store/NAME/VERSION or mobile_app/device_model/NAME")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="auto: ONNX Runtime when installed, else numpy (default %(default)s)")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="also print the engine, the model and the ms each text took (to stderr)")
    args = parser.parse_args(argv)
    from chat_emotion.artifact import ArtifactError

    try:
        engine, loader = pick_engine(args.engine)
        classifier = loader(args.model_dir, threads=1)
    except (ArtifactError, DeviceModelError, OSError) as err:
        parser.exit(1, f"error: {err}\n")
    for text in args.texts:
        started = time.perf_counter()
        (prediction,) = classifier.predict([text], batch_size=1)
        if args.verbose:
            import sys

            print(f"{ENGINE_NAMES[engine]} {classifier.manifest.ref} "
                  f"{1000 * (time.perf_counter() - started):.1f} ms", file=sys.stderr)
        print(f"{'+'.join(prediction.labels) or prediction.label}\t{text}")
    return 0


# --- the engine -----------------------------------------------------------------------------------

ENGINES: tuple[str, ...] = ("auto", "onnxruntime", "numpy")
ENGINE_NAMES = {"onnxruntime": "ONNX Runtime", "numpy": "numpy"}


def pick_engine(wanted: str = "auto") -> tuple[str, Callable[..., Any]]:
    """(engine name, its `load(folder, threads=, verify=)`): ONNX Runtime + tokenizers when they
    import (the function's own runtime, ~4x faster), else the numpy engine, which needs nothing
    python-for-android or a 32-bit Pi lacks (chat_emotion.numpy_runtime: same decisions)."""
    if wanted not in ENGINES:
        raise DeviceModelError(f"engine {wanted!r}: choose one of {', '.join(ENGINES)}")
    if wanted in ("auto", "onnxruntime"):
        try:
            from chat_emotion.runtime import Classifier
        except ImportError as exc:
            if wanted == "onnxruntime":
                raise DeviceModelError(
                    f"ONNX Runtime was asked for but {exc.name} is missing: pip install "
                    "'.[app,ondevice]', or use the numpy engine") from exc
        else:
            return "onnxruntime", Classifier.load
    try:
        from chat_emotion.numpy_runtime import NumpyClassifier
    except ImportError as exc:
        raise DeviceModelError(
            f"this install has no on-device runtime ({exc.name} is missing): pip install numpy for the "
            "numpy engine, or '.[app,ondevice]' for ONNX Runtime") from exc
    return "numpy", NumpyClassifier.load


# --- the labeller ---------------------------------------------------------------------------------

@dataclass
class DeviceLabeller:
    """Loads the on-device model in the background and labels texts with it (any thread).

    `status` is what Settings shows: "off", "loading…", "ready: <name>@<version> (… ms)", or why
    the model cannot be used (then `label` returns None and the app uses the cloud alone).
    """

    name: str = DEFAULT_DEVICE_MODEL
    data_dir: Path = Path(".")
    explicit: str = ""
    source: StorageSource | None = None
    threads: int = 1
    engine: str = "auto"
    """`auto` (ONNX Runtime when it imports, else numpy), `onnxruntime` or `numpy`."""
    status: str = "off"
    ref: str = ""
    engine_used: str = ""
    window: int = 16
    latencies_s: list[float] = field(default_factory=list)
    _classifier: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _loading: threading.Thread | None = None

    @property
    def ready(self) -> bool:
        return self._classifier is not None

    @property
    def failed(self) -> bool:
        return not self.ready and self._loading is None and self.status not in ("off", "")

    def start(self, on_ready: Callable[[DeviceLabeller], None] = lambda labeller: None) -> DeviceLabeller:
        """Load in a background thread (verifying sha256 and a download can take a while)."""
        self.status = "loading…"

        def work() -> None:
            try:
                self.load()
            except DeviceModelError as err:
                self.status = f"on-device labels off: {err}"
                log.warning("%s", self.status)
            finally:
                self._loading = None
            on_ready(self)

        self._loading = threading.Thread(target=work, name="device-model", daemon=True)
        self._loading.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        thread = self._loading
        if thread is not None:
            thread.join(timeout)
        return self.ready

    def load(self) -> None:
        """Find, verify and load the model; DeviceModelError says why it cannot be used."""
        try:
            from chat_emotion.artifact import ArtifactError, verify_artifact
        except ImportError as exc:
            raise DeviceModelError(
                f"this install has no on-device runtime ({exc.name} is missing): install the app with "
                "its ondevice extra, pip install '.[app,ondevice]', or numpy alone") from exc
        engine, loader = pick_engine(self.engine)
        problems: list[str] = []
        candidates = local_candidates(self.name, self.data_dir, self.explicit)
        if self.source is not None and not self.explicit:
            candidates.append(None)  # download last: the local copies cost nothing
        for folder in candidates:
            try:
                if folder is None:
                    folder = self.source.download(self.name, self.data_dir / "models")
                if not (folder / "manifest.json").is_file():
                    raise DeviceModelError(f"{folder} holds no model artifact (no manifest.json)")
                verify_artifact(folder)
                classifier = loader(folder, threads=self.threads, verify=False)
            except (ArtifactError, DeviceModelError, OSError, ValueError) as err:
                problems.append(str(err))
                continue
            if classifier.manifest.name != self.name and not self.explicit:
                problems.append(f"{folder} holds {classifier.manifest.ref}, not {self.name}")
                continue
            self._warm(classifier)
            with self._lock:
                self._classifier = classifier
                self.ref = classifier.manifest.ref
                self.engine_used = engine
            self.status = (f"ready: {self.ref} on {ENGINE_NAMES[engine]} "
                           f"({self.latency_ms():.1f} ms a message here)")
            return
        if not problems:
            raise DeviceModelError(
                f"no copy of {self.name!r} on this device (looked in {BUNDLED_DIR}, {REPO_STORE} and "
                f"{self.data_dir / 'models'}) and no model bucket to fetch it from")
        raise DeviceModelError("; ".join(problems))

    def _warm(self, classifier: Any) -> None:
        """A few runs first: the first run allocates, and `auto` needs a latency to compare."""
        for text in ("hello", "I am so happy today, thank you all", "why would you do that to me"):
            started = time.perf_counter()
            classifier.predict([text], batch_size=1)
            self._observe(time.perf_counter() - started)

    def _observe(self, seconds: float) -> None:
        self.latencies_s = [*self.latencies_s, seconds][-self.window:]

    def latency_ms(self) -> float:
        return 1000 * statistics.median(self.latencies_s) if self.latencies_s else float("nan")

    def label(self, text: str) -> Emotion | None:
        """The on-device Emotion for `text`, or None when no model is loaded."""
        classifier = self._classifier
        if classifier is None:
            return None
        started = time.perf_counter()
        (prediction,) = classifier.predict([text], batch_size=1)
        elapsed = time.perf_counter() - started
        self._observe(elapsed)
        manifest = classifier.manifest
        return Emotion(label=prediction.label, score=prediction.score, scores=prediction.scores,
                       labels=prediction.labels, model=manifest.name, model_version=manifest.version,
                       latency_ms=1000 * elapsed, on_device=True)


INSTANT_MS = 100.0
"""A label sooner than this feels immediate (the 0.1 s limit of response-time studies): when the
cloud's answers come that fast, a provisional label would only flicker before the cloud's."""


def auto_shows_device_label(device_ms: float, cloud_ms: float | None, online: bool) -> bool:
    """`auto`'s rule, from the matrix in docs/APP.md "On the device": label here when the cloud
    can't answer, or when the device answers sooner than the cloud's recent tap → label and that
    is long enough to be seen. Unknown cloud time (a fresh start: the first message may meet a
    cold instance) counts as slow; an unmeasured device (NaN) never wins."""
    if not online or cloud_ms is None:
        return True
    return device_ms == device_ms and device_ms < cloud_ms and cloud_ms > INSTANT_MS


if __name__ == "__main__":
    raise SystemExit(main())
