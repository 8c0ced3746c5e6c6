"""The model store on a folder and on gs:// (a real local Cloud Storage server: gcp-storage-emulator)."""

from __future__ import annotations

from pathlib import Path

import pytest
from chat_emotion.artifact import ArtifactCorruptError, ArtifactMissingError, Manifest
from chat_emotion.store import (
    GcsStore,
    LocalStore,
    ModelNotFoundError,
    ModelRefError,
    ModelStore,
    PublishError,
    StoreUnavailableError,
    open_store,
    parse_model_ref,
)

from tests.support.tiny_model import TinyArtifact


@pytest.mark.parametrize(("ref", "expected"), [
    ("default", ("default", None)),
    ("minilm", ("minilm", None)),
    ("MiniLM", ("minilm", None)),
    (" bert ", ("bert", None)),
    ("minilm@2026-11-25.1", ("minilm", "2026-11-25.1")),
    ("tiny-student_2@v3", ("tiny-student_2", "v3")),
])
def test_parse_model_ref(ref: str, expected: tuple[str, str | None]) -> None:
    assert parse_model_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", " ", "a/b", "../x", "x@", "@v1", "x@../v1", "x@v1@v2", "-x", "a" * 65,
                                 "default@v1", "x@.hidden", None, 3, ["minilm"]])
def test_malformed_model_refs(ref: object) -> None:
    with pytest.raises(ModelRefError):
        parse_model_ref(ref)


def test_open_store_kinds(tmp_path: Path) -> None:
    assert isinstance(open_store(tmp_path), LocalStore)
    assert open_store("models/store", base_dir=tmp_path).root == (tmp_path / "models/store").resolve()
    assert isinstance(open_store("gs://bucket/prefix"), GcsStore)
    for bad in ("", "s3://bucket/x", "gs://", "gs://B!/x"):
        with pytest.raises(StoreUnavailableError):
            open_store(bad)


# --- behaviour shared by both kinds of store ------------------------------------------------------

def check_publish_resolve_fetch(store: ModelStore, artifacts: dict[str, TinyArtifact]) -> None:
    with pytest.raises(ModelNotFoundError, match="DEFAULT"):
        store.resolve("default")
    published = store.publish(artifacts["single"].directory, make_default=True)
    assert (published.name, published.version) == ("tiny", "v1")
    store.publish(artifacts["multi"].directory)
    store.publish(artifacts["multi"].directory, version="v2")  # the same files under a new version
    assert store.resolve("default") == ("tiny", "v1")
    assert store.resolve("tinymulti") == ("tinymulti", "v2")  # LATEST follows the last publish
    assert store.resolve("tinymulti@v1") == ("tinymulti", "v1")
    assert store.resolve("default", default="tinymulti@v1") == ("tinymulti", "v1")
    with pytest.raises(ModelNotFoundError):
        store.resolve("nosuch")
    with pytest.raises(ModelNotFoundError):
        store.resolve("tiny@v7")
    fetched = store.fetch("tinymulti", "v2")
    manifest = Manifest.load(fetched)
    assert (manifest.name, manifest.version) == ("tinymulti", "v2")  # rewritten for the new version
    assert manifest.files == artifacts["multi"].manifest.files
    # Publishing the same files again is a no-op; different files under that version are refused.
    store.publish(artifacts["single"].directory)
    with pytest.raises(PublishError, match="immutable"):
        store.publish(artifacts["multi"].directory, name="tiny", version="v1")


def test_local_store(tmp_path: Path, tiny_artifacts: dict[str, TinyArtifact]) -> None:
    (tmp_path / "store").mkdir()
    store = LocalStore(tmp_path / "store")
    check_publish_resolve_fetch(store, tiny_artifacts)
    assert (store.root / "DEFAULT").read_text().strip() == "tiny"
    assert sorted(p.name for p in (store.root / "tiny" / "v1").iterdir()) == [
        "manifest.json", "model.onnx", "tokenizer.json"]
    assert not list(store.root.rglob("*.partial"))


def test_a_folder_store_caches_its_pointers_for_a_second(tmp_path: Path,
                                                          tiny_artifacts: dict[str, TinyArtifact]) -> None:
    store = open_store(tmp_path / "store")
    store.publish(tiny_artifacts["single"].directory, make_default=True)
    store.publish(tiny_artifacts["multi"].directory)
    assert store.resolve("default") == ("tiny", "v1")
    (store.root / "DEFAULT").write_text("tinymulti\n")  # another process (the training CLI) moves it
    assert store.resolve("default") == ("tiny", "v1"), "cached: no file read per message"
    store.pointer_ttl_s = 0.0  # what a second later looks like
    assert store.resolve("default") == ("tinymulti", "v1")
    store.pointer_ttl_s = 60.0
    store.publish(tiny_artifacts["single"].directory, make_default=True)
    assert store.resolve("default") == ("tiny", "v1"), "a publish through this store shows at once"


def test_a_pinned_version_is_read_once_and_a_missing_one_again_after_the_ttl(
        tmp_path: Path, tiny_artifacts: dict[str, TinyArtifact], monkeypatch: pytest.MonkeyPatch) -> None:
    """`name@version` (a pinned DEFAULT_MODEL, or a message's own pin) must not cost a store read per
    message: on gs:// each read is a GET. Versions are immutable, so one seen is known for good."""
    store = open_store(tmp_path / "store")
    store.publish(tiny_artifacts["single"].directory)
    reads: list[str] = []
    read = store._read_text
    monkeypatch.setattr(store, "_read_text", lambda relpath: reads.append(relpath) or read(relpath))
    for _ in range(5):
        assert store.resolve("tiny@v1") == ("tiny", "v1")
    assert reads == ["tiny/v1/manifest.json"]
    # Not there yet: refused, and asked again once the pointer TTL has passed, not before.
    store.pointer_ttl_s = 60.0
    with pytest.raises(ModelNotFoundError):
        store.resolve("tiny@v2")
    LocalStore(store.root).publish(tiny_artifacts["single"].directory, version="v2")  # another process
    with pytest.raises(ModelNotFoundError):
        store.resolve("tiny@v2")
    store.pointer_ttl_s = 0.0  # what a minute later looks like
    assert store.resolve("tiny@v2") == ("tiny", "v2")
    assert reads.count("tiny/v2/manifest.json") == 2


def test_local_store_detects_damage(tmp_path: Path, tiny_artifacts: dict[str, TinyArtifact]) -> None:
    store = LocalStore(tmp_path / "store")
    store.publish(tiny_artifacts["single"].directory)
    model = store.root / "tiny" / "v1" / "model.onnx"
    model.write_bytes(model.read_bytes()[:-1] + b"\0")
    with pytest.raises(ArtifactCorruptError, match="sha256"):
        store.fetch("tiny", "v1")
    assert model.exists()  # the store's own copy is evidence, never deleted by a reader
    model.unlink()
    with pytest.raises(ArtifactMissingError):
        store.fetch("tiny", "v1")


def test_missing_local_store(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="MODEL_STORE"):
        LocalStore(tmp_path / "absent").resolve("default")


def test_repository_store_when_present() -> None:
    """models/store in the repository (the training engineer publishes the default model there)."""
    root = Path(__file__).resolve().parents[2] / "models" / "store"
    if not (root / "DEFAULT").is_file():
        pytest.skip("models/store/DEFAULT not published yet")
    store = open_store(root)
    name, version = store.resolve("default")
    Manifest.load(store.fetch(name, version))


# --- gs:// against a real local Cloud Storage server -----------------------------------------------

def test_gcs_store(bucket: str, tmp_path: Path, tiny_artifacts: dict[str, TinyArtifact]) -> None:
    store = open_store(f"gs://{bucket}/prod/models", cache_dir=tmp_path / "cache", pointer_ttl_s=0)
    check_publish_resolve_fetch(store, tiny_artifacts)
    from chat_emotion.store import storage_client

    names = sorted(b.name for b in storage_client().list_blobs(bucket, prefix="prod/models/"))
    assert "prod/models/DEFAULT" in names and "prod/models/tiny/v1/model.onnx" in names
    # A second store (another instance) downloads into its own cache and gets identical files.
    other = open_store(f"gs://{bucket}/prod/models", cache_dir=tmp_path / "cache2")
    local = other.fetch("tiny", "v1")
    assert local.is_relative_to(tmp_path / "cache2")
    for name in ("model.onnx", "tokenizer.json"):
        assert (local / name).read_bytes() == (tiny_artifacts["single"].directory / name).read_bytes()


def test_gcs_cache_is_reverified_and_repaired(bucket: str, tmp_path: Path,
                                              tiny_artifacts: dict[str, TinyArtifact]) -> None:
    store = open_store(f"gs://{bucket}", cache_dir=tmp_path / "cache")
    store.publish(tiny_artifacts["single"].directory)
    local = store.fetch("tiny", "v1")
    (local / "model.onnx").write_bytes(b"bit rot")  # the cached copy goes bad (e.g. a full /tmp)
    again = store.fetch("tiny", "v1")  # discarded and downloaded again
    Manifest.load(again)
    original = tiny_artifacts["single"].directory / "model.onnx"
    assert (again / "model.onnx").read_bytes() == original.read_bytes()


def test_gcs_damage_in_the_bucket_is_reported(bucket: str, tmp_path: Path,
                                              tiny_artifacts: dict[str, TinyArtifact]) -> None:
    from chat_emotion.store import storage_client

    store = open_store(f"gs://{bucket}", cache_dir=tmp_path / "cache")
    store.publish(tiny_artifacts["single"].directory)
    storage_client().bucket(bucket).blob("tiny/v1/model.onnx").upload_from_string(b"replaced")
    with pytest.raises(ArtifactCorruptError):
        store.fetch("tiny", "v1")
    assert not (tmp_path / "cache" / bucket / "_" / "tiny" / "v1").exists()  # nothing bad stays cached
    storage_client().bucket(bucket).blob("tiny/v1/tokenizer.json").delete()
    with pytest.raises(ArtifactMissingError):
        store.fetch("tiny", "v1")
    with pytest.raises(ModelNotFoundError):
        store.resolve("tiny@v2")
