"""The model store: a local folder or `gs://BUCKET/PREFIX`, laid out as README "Model store" says.

    <store>/DEFAULT                      the default model's name (one line; `name@version` also works)
    <store>/<name>/LATEST                the current version of <name> (one line)
    <store>/<name>/<version>/model.onnx, tokenizer.json, manifest.json

Versions are immutable: `publish` refuses to overwrite a version with different files, so a
cached download (keyed by name and version) never goes stale. Pointers (DEFAULT, LATEST) are the
only files that change; they are written last, so a reader never sees a half-published version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import replace
from pathlib import Path
from typing import Any

from chat_emotion.artifact import (
    ARTIFACT_FILES,
    MANIFEST_FILE,
    ArtifactCorruptError,
    ArtifactMissingError,
    Manifest,
    verify_artifact,
)

DEFAULT_POINTER = "DEFAULT"
LATEST_POINTER = "LATEST"
DEFAULT_REF = "default"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_VERSION_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
GCS_RETRY_S = 10.0
"""How long a gs:// read keeps retrying before MODEL_STORE_UNAVAILABLE. The library's default is
120 s, twice the function's timeout: an unreachable bucket would kill the run instead of ending
the message as ERROR."""
GCS_TIMEOUT_S = (5.0, 30.0)
"""(connect, read) seconds for each request to Cloud Storage."""


class StoreError(Exception):
    """A model cannot be resolved or fetched; `code` is the ERROR code the function records."""

    code = "MODEL_STORE_ERROR"


class ModelRefError(StoreError):
    """The message's `model` value is not `default`, `name` or `name@version`."""

    code = "MODEL_NAME_INVALID"


class ModelNotFoundError(StoreError):
    """Well-formed, but the store has no such model or version."""

    code = "MODEL_UNKNOWN"


class StoreUnavailableError(StoreError):
    """The store itself cannot be read (missing folder, bucket unreachable, bad URI)."""

    code = "MODEL_STORE_UNAVAILABLE"


class PublishError(StoreError):
    """A publish that would break the store's guarantees (e.g. overwrite an existing version)."""

    code = "PUBLISH_REFUSED"


def parse_model_ref(ref: object) -> tuple[str, str | None]:
    """`"default"` -> ("default", None); `"minilm"` -> ("minilm", None); `"minilm@v2"` -> ("minilm", "v2").

    Names are matched case-insensitively (people type `MiniLM`); ModelRefError otherwise.
    """
    if not isinstance(ref, str):
        raise ModelRefError(f"model must be a string, got {type(ref).__name__}")
    cleaned = ref.strip().lower()
    name, sep, version = cleaned.partition("@")
    if not _NAME_RE.match(name) or (sep and not _VERSION_RE.match(version)):
        raise ModelRefError(
            f"model {ref[:80]!r} is not 'default', a model name (a-z, 0-9, '-', '_') or 'name@version'")
    if name == DEFAULT_REF and sep:
        raise ModelRefError("'default' names the store's default model and takes no @version")
    return name, (version if sep else None)


def check_name_version(name: str, version: str) -> None:
    if not _NAME_RE.match(name) or name == DEFAULT_REF:
        raise ModelRefError(f"invalid model name {name!r}: use a-z, 0-9, '-', '_' (and not 'default')")
    if not _VERSION_RE.match(version):
        raise ModelRefError(f"invalid model version {version!r}: use a-z, 0-9, '.', '-', '_'")


class ModelStore(ABC):
    """Resolve, fetch and publish model versions; subclasses provide file access."""

    uri: str

    def __init__(self, *, pointer_ttl_s: float = 0.0) -> None:
        self.pointer_ttl_s = pointer_ttl_s
        self._pointers: dict[str, tuple[float, str | None]] = {}
        # "name/version" -> (when it was read, whether its manifest exists). A version once seen is
        # remembered for good (versions are immutable: publish refuses to overwrite one); one not
        # found is asked again after pointer_ttl_s, so a version published later shows.
        self._versions: dict[str, tuple[float, bool]] = {}
        self._pointer_lock = threading.Lock()

    # --- file access, relative to the store's root ------------------------------------------

    @abstractmethod
    def _read_text(self, relpath: str) -> str | None:
        """The file's text, or None when it does not exist."""

    @abstractmethod
    def _write_file(self, relpath: str, source: Path) -> None: ...

    @abstractmethod
    def _write_text(self, relpath: str, text: str) -> None: ...

    @abstractmethod
    def _local_version(self, name: str, version: str) -> Path:
        """A local folder holding the version's files (downloading them if needed), unverified."""

    @abstractmethod
    def release(self, name: str, version: str) -> None:
        """The version is loaded in memory: a local copy made for it may go (a download in /tmp is memory)."""

    @abstractmethod
    def _discard_local(self, name: str, version: str) -> None:
        """Forget a local copy that failed verification, so the next fetch downloads again."""

    # --- the API ----------------------------------------------------------------------------

    def _pointer(self, relpath: str) -> str | None:
        """A pointer file's first line, cached for pointer_ttl_s (a gs:// read costs a round trip)."""
        now = time.monotonic()
        with self._pointer_lock:
            hit = self._pointers.get(relpath)
            if hit is not None and now - hit[0] < self.pointer_ttl_s:
                return hit[1]
        text = self._read_text(relpath)
        value = text.strip().splitlines()[0].strip() if text and text.strip() else None
        with self._pointer_lock:
            self._pointers[relpath] = (now, value)
        return value

    def _version_exists(self, name: str, version: str) -> bool:
        """Whether `name/version` has a manifest: read once per instance for a version that exists
        (a pinned DEFAULT_MODEL on gs:// would otherwise cost a GET on every message)."""
        key, now = f"{name}/{version}", time.monotonic()
        with self._pointer_lock:
            hit = self._versions.get(key)
            if hit is not None and (hit[1] or now - hit[0] < self.pointer_ttl_s):
                return hit[1]
        exists = self._read_text(f"{key}/{MANIFEST_FILE}") is not None
        with self._pointer_lock:
            self._versions[key] = (now, exists)
        return exists

    def resolve(self, model_ref: object, *, default: str | None = None) -> tuple[str, str]:
        """(name, version) for a message's `model` value.

        `default` resolves to `default` when given (the DEFAULT_MODEL param), else to what
        `<store>/DEFAULT` names. A bare name resolves to `<store>/<name>/LATEST`.
        """
        name, version = parse_model_ref(model_ref)
        if name == DEFAULT_REF:
            target = default or self._pointer(DEFAULT_POINTER)
            if not target:
                raise ModelNotFoundError(
                    f"the model store {self.uri} has no {DEFAULT_POINTER} file and no default model is "
                    "configured; publish one with make_default=True or set DEFAULT_MODEL")
            name, version = parse_model_ref(target)
            if name == DEFAULT_REF:
                raise ModelRefError(f"the default model cannot itself be 'default' (store {self.uri})")
        if version is None:
            version = self._pointer(f"{name}/{LATEST_POINTER}")
            if version is None:
                raise ModelNotFoundError(f"no model named {name!r} in {self.uri}")
            if not _VERSION_RE.match(version):
                raise StoreUnavailableError(f"{self.uri}/{name}/{LATEST_POINTER} holds an invalid version")
        elif not self._version_exists(name, version):
            raise ModelNotFoundError(f"model {name!r} has no version {version!r} in {self.uri}")
        return name, version

    def fetch(self, name: str, version: str) -> Path:
        """A local folder with the version's files, each checked against the manifest's sha256.

        A damaged cached download is discarded and fetched once more before giving up with
        ArtifactCorruptError; a version that is absent raises ArtifactMissingError.
        """
        check_name_version(name, version)
        for attempt in (1, 2):
            directory = self._local_version(name, version)
            try:
                manifest = verify_artifact(directory)
            except ArtifactCorruptError:
                self._discard_local(name, version)
                if attempt == 2:
                    raise
                continue
            if (manifest.name, manifest.version) != (name, version):
                raise ArtifactCorruptError(
                    f"{self.uri}/{name}/{version} holds a manifest for {manifest.ref}: the store is "
                    "inconsistent; publish the version again")
            return directory
        raise AssertionError("unreachable")  # pragma: no cover

    def publish(self, artifact_dir: str | Path, *, name: str | None = None, version: str | None = None,
                make_default: bool = False, make_latest: bool = True) -> Manifest:
        """Copy a verified artifact into `<store>/<name>/<version>/` and move the pointers.

        `name`/`version` default to the manifest's; when they differ the stored manifest is
        rewritten with them (the files' digests are unchanged). Publishing the same files again
        is a no-op; publishing different files under an existing version raises PublishError.
        Files go up first, the manifest after them, the pointers last.
        """
        artifact_dir = Path(artifact_dir)
        manifest = verify_artifact(artifact_dir)
        manifest = replace(manifest, name=name or manifest.name, version=version or manifest.version)
        check_name_version(manifest.name, manifest.version)
        prefix = f"{manifest.name}/{manifest.version}"
        existing = self._read_text(f"{prefix}/{MANIFEST_FILE}")
        if existing is not None:
            try:
                old = Manifest.from_dict(json.loads(existing))
            except (ValueError, TypeError) as err:
                raise PublishError(f"{self.uri}/{prefix} exists with an unreadable manifest: {err}") from err
            if old.files != manifest.files:
                raise PublishError(
                    f"{self.uri}/{prefix} already exists with different files; versions are immutable, "
                    "publish under a new version")
        else:
            for file_name in ARTIFACT_FILES:
                self._write_file(f"{prefix}/{file_name}", artifact_dir / file_name)
            with tempfile.TemporaryDirectory() as tmp:
                self._write_file(f"{prefix}/{MANIFEST_FILE}", manifest.write(tmp))
        if make_latest:
            self._write_text(f"{manifest.name}/{LATEST_POINTER}", manifest.version + "\n")
        if make_default:
            self._write_text(DEFAULT_POINTER, manifest.name + "\n")
        with self._pointer_lock:
            self._pointers.clear()
            self._versions.clear()
        return manifest


class LocalStore(ModelStore):
    """A store on the local file system (the repository's `models/store`, or any folder)."""

    def __init__(self, root: str | Path, **kwargs: float) -> None:
        super().__init__(**kwargs)
        self.root = Path(root).resolve()
        self.uri = str(self.root)

    def publish(self, artifact_dir: str | Path, **kwargs: Any) -> Manifest:
        self.root.mkdir(parents=True, exist_ok=True)  # publishing is how a new store comes to be
        return super().publish(artifact_dir, **kwargs)

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise StoreUnavailableError(
                f"model store folder {self.root} does not exist; set MODEL_STORE to a folder or gs:// URI")

    def _read_text(self, relpath: str) -> str | None:
        self._check_root()
        try:
            return (self.root / relpath).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def _write_file(self, relpath: str, source: Path) -> None:
        target = self.root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".partial")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)  # atomic: a reader sees the old file or the whole new one

    def _write_text(self, relpath: str, text: str) -> None:
        target = self.root / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".partial")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)

    def _local_version(self, name: str, version: str) -> Path:
        self._check_root()
        return self.root / name / version

    def _discard_local(self, name: str, version: str) -> None:
        """The store's own copy is the source of truth: never delete it, let fetch report it."""

    def release(self, name: str, version: str) -> None:
        """Nothing was copied: the folder is the store itself."""


class GcsStore(ModelStore):
    """A store in Cloud Storage; downloads are cached under `cache_dir`, keyed by name and version.

    On Cloud Functions /tmp is an in-memory file system that counts against the instance's memory;
    the default cache is there because it is the only writable place.
    """

    def __init__(self, uri: str, *, cache_dir: str | Path | None = None, client: object | None = None,
                 pointer_ttl_s: float = 30.0) -> None:
        super().__init__(pointer_ttl_s=pointer_ttl_s)
        match = re.match(r"^gs://([a-z0-9][a-z0-9._-]{1,221}[a-z0-9])(?:/(.*))?$", uri)
        if not match:
            raise StoreUnavailableError(f"{uri!r} is not a gs://BUCKET[/PREFIX] URI")
        self.uri = uri.rstrip("/")
        self.bucket_name = match.group(1)
        self.prefix = (match.group(2) or "").strip("/")
        self.cache_dir = Path(cache_dir or Path(tempfile.gettempdir()) / "chat-emotion-models")
        self._client = client
        self._bucket = None
        self._download_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    @property
    def bucket(self):  # -> google.cloud.storage.Bucket, imported lazily (cold start)
        if self._bucket is None:
            if self._client is None:
                self._client = storage_client()
            self._bucket = self._client.bucket(self.bucket_name)  # type: ignore[attr-defined]
        return self._bucket

    def _key(self, relpath: str) -> str:
        return f"{self.prefix}/{relpath}" if self.prefix else relpath

    def _read_text(self, relpath: str) -> str | None:
        from google.api_core import exceptions

        try:
            return self.bucket.blob(self._key(relpath)).download_as_text(
                retry=_gcs_retry(), timeout=GCS_TIMEOUT_S)
        except exceptions.NotFound:
            return None
        except exceptions.GoogleAPIError as err:
            raise StoreUnavailableError(f"cannot read {self.uri}/{relpath}: {err}") from err

    def _write_file(self, relpath: str, source: Path) -> None:
        self.bucket.blob(self._key(relpath)).upload_from_filename(str(source))

    def _write_text(self, relpath: str, text: str) -> None:
        blob = self.bucket.blob(self._key(relpath))
        # Pointers change; tell caches in front of the bucket not to keep them.
        blob.cache_control = "no-cache, max-age=0"
        blob.upload_from_string(text, content_type="text/plain")

    def _cache_path(self, name: str, version: str) -> Path:
        return self.cache_dir / self.bucket_name / (self.prefix or "_") / name / version

    def _download_lock(self, target: Path) -> threading.Lock:
        """One lock per cached version: a download and the deletion of its copy never overlap."""
        with self._locks_lock:
            return self._download_locks.setdefault(str(target), threading.Lock())

    def _local_version(self, name: str, version: str) -> Path:
        from google.api_core import exceptions

        target = self._cache_path(name, version)
        with self._download_lock(target):
            if (target / MANIFEST_FILE).is_file():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{version}."))
            try:
                # The manifest first: a version without one is not published (or not finished).
                for file_name in (MANIFEST_FILE, *ARTIFACT_FILES):
                    where = f"{self.uri}/{name}/{version}/{file_name}"
                    try:
                        self.bucket.blob(self._key(f"{name}/{version}/{file_name}")).download_to_filename(
                            str(staging / file_name), retry=_gcs_retry(), timeout=GCS_TIMEOUT_S)
                    except exceptions.NotFound as err:
                        raise ArtifactMissingError(f"{where} does not exist") from err
                    except exceptions.GoogleAPIError as err:
                        raise StoreUnavailableError(f"cannot download {where}: {err}") from err
                os.replace(staging, target)  # atomic on one file system: never a half-cached version
                return target
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    def _discard_local(self, name: str, version: str) -> None:
        shutil.rmtree(self._cache_path(name, version), ignore_errors=True)

    def release(self, name: str, version: str) -> None:
        """Delete the download once it is loaded. On Cloud Functions /tmp is memory, so keeping
        every version a message ever named would let anyone who can send messages fill the instance
        (one download per published version) until it is killed; a version evicted from the model
        cache and asked for again is downloaded again."""
        target = self._cache_path(name, version)
        with self._download_lock(target):
            shutil.rmtree(target, ignore_errors=True)


def _gcs_retry():  # -> google.api_core.retry.Retry, imported lazily (cold start)
    from google.cloud.storage.retry import DEFAULT_RETRY

    return DEFAULT_RETRY.with_timeout(GCS_RETRY_S)


def storage_client():
    """A google-cloud-storage client; anonymous against STORAGE_EMULATOR_HOST (no credentials there)."""
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        project = os.environ.get("GCLOUD_PROJECT") or os.environ.get("GOOGLE_CLOUD_PROJECT") or "demo-emotion"
        return storage.Client(project=project, credentials=AnonymousCredentials())
    return storage.Client()


def open_store(uri: str | Path, *, base_dir: str | Path | None = None, cache_dir: str | Path | None = None,
               pointer_ttl_s: float | None = None) -> ModelStore:
    """The store at `uri`: `gs://BUCKET/PREFIX`, or a folder (relative paths resolve against `base_dir`)."""
    text = str(uri).strip()
    if not text:
        raise StoreUnavailableError("no model store configured: set MODEL_STORE to a folder or gs:// URI")
    if text.startswith("gs://"):
        return GcsStore(text, cache_dir=cache_dir,
                        pointer_ttl_s=30.0 if pointer_ttl_s is None else pointer_ttl_s)
    if "://" in text:
        raise StoreUnavailableError(f"unsupported model store {text!r}: use a folder or gs://BUCKET/PREFIX")
    path = Path(text).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    # Two pointer files read per message cost ~0.2 ms of a ~2 ms message; a second's cache keeps a
    # new publish visible almost at once (publish() through this store clears it at once).
    return LocalStore(path, pointer_ttl_s=1.0 if pointer_ttl_s is None else pointer_ttl_s)


__all__ = [
    "DEFAULT_POINTER", "GcsStore", "LATEST_POINTER", "LocalStore", "ModelNotFoundError",
    "ModelRefError", "ModelStore", "PublishError", "StoreError", "StoreUnavailableError", "open_store",
    "parse_model_ref",
]
