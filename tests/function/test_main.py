"""functions/main.py only declares; its deploy manifest carries the params; docs list every code."""

from __future__ import annotations

import base64
import json

from chat_emotion import errors
from chat_emotion.emulator_adapter import decode_body

from tests.function.conftest import REPO_ROOT, run_as_discovery
from tests.support.cloudevents import created_event


def test_deploy_discovery_imports_nothing_heavy() -> None:
    heavy = ["onnxruntime", "tokenizers", "torch", "transformers", "google.cloud.storage",
             "chat_emotion.runtime"]
    out = run_as_discovery(
        f"import sys, json, time; t = time.perf_counter(); import main; heavy = {heavy!r}; "
        "print(json.dumps([[m for m in heavy if m in sys.modules], time.perf_counter() - t]))")
    loaded, seconds = json.loads(out)
    assert loaded == []
    assert seconds < 10  # the discovery limit; ~1.5 s here, almost all of it the Firebase SDK itself


def test_deploy_manifest_declares_trigger_params_and_options() -> None:
    out = run_as_discovery("from firebase_functions.private import serving; import json, yaml; "
               "print(json.dumps(yaml.safe_load(serving.functions_as_yaml(serving.get_functions()))))")
    spec = json.loads(out)
    endpoint = spec["endpoints"]["classify_message"]
    assert endpoint["eventTrigger"]["eventType"] == "google.cloud.firestore.document.v1.created"
    patterns = endpoint["eventTrigger"]["eventFilterPathPatterns"]
    assert patterns == {"document": "users/{uid}/messages/{messageId}"}
    assert endpoint["eventTrigger"]["retry"] is False
    assert endpoint["availableMemoryMb"] == "{{ params.MEMORY_MB }}"
    assert endpoint["concurrency"] == "{{ params.CONCURRENCY }}"
    assert endpoint["minInstances"] == "{{ params.MIN_INSTANCES }}"
    assert endpoint["maxInstances"] == "{{ params.MAX_INSTANCES }}"
    assert endpoint["cpu"] == 1 and endpoint["region"] == ["us-central1"]
    params = {p["name"]: p for p in spec["params"]}
    assert params["MODEL_STORE"]["default"] == "models/store"
    assert params["DEFAULT_MODEL"]["default"] == "store"
    assert {"MODEL_CACHE_MB", "MEMORY_MB", "CONCURRENCY", "MIN_INSTANCES", "MAX_INSTANCES"} <= set(params)


def test_requirements_stay_free_of_torch() -> None:
    lines = (REPO_ROOT / "functions" / "requirements.txt").read_text().lower().splitlines()
    requirements = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    assert "torch" not in requirements and "transformers" not in requirements
    for needed in ("onnxruntime", "tokenizers", "numpy", "firebase-functions", "google-cloud-storage"):
        assert needed in requirements


def test_adapter_decodes_the_emulators_base64_and_leaves_raw_protobuf_alone() -> None:
    _, body = created_event("users/u/messages/m", {"text": "hi", "model": "default"})
    assert decode_body(base64.b64encode(body)) == body
    assert decode_body(body) == body  # field tag 0x0A is outside the base64 alphabet
    assert body[:1] == b"\n"


def test_every_error_code_is_documented() -> None:
    doc = (REPO_ROOT / "docs" / "FUNCTION.md").read_text()
    assert [code for code in errors.ALL if f"`{code}`" not in doc] == []


def test_adapter_repairs_what_the_emulator_sends() -> None:
    import io

    from chat_emotion.emulator_adapter import EmulatorDeliveryAdapter

    seen: dict = {}

    def inner(environ: dict, start_response: object) -> list[bytes]:
        seen.update(environ, body=environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"])))
        return [b"OK"]

    _, body = created_event("users/u/messages/m", {"text": "hi", "model": "default"})
    encoded = base64.b64encode(body)
    EmulatorDeliveryAdapter(inner)({
        "CONTENT_TYPE": "application/protobuf", "CONTENT_LENGTH": str(len(encoded)),
        "wsgi.input": io.BytesIO(encoded),
        "HTTP_CE_SOURCE": "//firestore.googleapis.com/projects/projects/demo/databases/(default)",
    }, lambda *a: None)
    assert seen["body"] == body and seen["CONTENT_LENGTH"] == str(len(body))
    assert seen["HTTP_CE_SOURCE"] == "//firestore.googleapis.com/projects/demo/databases/(default)"
