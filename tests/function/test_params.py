"""A serving instance's parameters (chat_emotion.params) read what the SDK's would, for every
parameter main.py declares: unset, set, and set but empty.

main.py runs in a subprocess, as deploy discovery runs it (no FUNCTION_TARGET), because the SDK
refuses to declare a parameter twice in one process and the session's function_app declares them.
"""

from __future__ import annotations

import json

from tests.function.conftest import run_as_discovery

_COMPARE = """
import json, os
from firebase_functions import params as sdk
import main
from chat_emotion import params as twins

def reading(param):
    try:
        value = param.value
    except ValueError:
        return ["ValueError"]
    return [type(value).__name__, value]

report = {}
for name, param in vars(main).items():
    if not isinstance(param, sdk.Param):
        continue
    kind = {sdk.StringParam: twins.StringParam, sdk.IntParam: twins.IntParam}[type(param)]
    twin = kind(param.name, default=param.default, description=param.description)
    rows = []
    for raw in (None, "7", "gs://bucket/models", ""):
        os.environ.pop(param.name, None)
        if raw is not None:
            os.environ[param.name] = raw
        rows.append([raw, reading(param), reading(twin)])
    os.environ.pop(param.name, None)
    report[param.name] = {"default": param.default, "rows": rows}
for kind in ("StringParam", "IntParam"):  # no default at all
    name = "NO_DEFAULT_" + kind.upper()
    report[name] = {"default": None, "rows": [
        [None, reading(getattr(sdk, kind)(name)), reading(getattr(twins, kind)(name))]]}
print(json.dumps({"serving": main.SERVING_TRIGGER, "report": report}))
"""


def test_every_param_main_declares_reads_the_same_as_the_sdks() -> None:
    out = json.loads(run_as_discovery(_COMPARE).strip().splitlines()[-1])
    assert out["serving"] is False
    report = out["report"]
    assert {"MODEL_STORE", "DEFAULT_MODEL", "MODEL_CACHE_MB", "RATE_PER_MINUTE", "RATE_PER_DAY",
            "ANONYMOUS_IDLE_DAYS", "MEMORY_MB", "CONCURRENCY", "MIN_INSTANCES",
            "MAX_INSTANCES"} <= set(report)
    for name, entry in report.items():
        for raw, sdk_reading, twin_reading in entry["rows"]:
            assert twin_reading == sdk_reading, (name, raw)
        if entry["default"] is not None:
            assert entry["rows"][0][1] == [type(entry["default"]).__name__, entry["default"]], name
    # The comparison has teeth: an int param refuses text, a string param keeps it.
    assert report["MODEL_CACHE_MB"]["rows"][2][1][0] == "ValueError"
    assert report["MODEL_STORE"]["rows"][2][1] == ["str", "gs://bucket/models"]
