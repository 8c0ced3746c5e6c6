"""The baseline as a deployable source file: functions/main.py with handler.classify swapped for
transformers.pipeline on the torch checkpoint in NAIVE_CHECKPOINT (loaded on the first call).

Everything else (trigger, claim, validation, write-back) is the real function's, so only the
inference differs. Served by benchmarks/local_stack.py for the emulator and Locust runs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "functions")]

# The baseline reads its events the way a user's function does, through the SDK's decorator
# (functions/main.py takes its own serving path only when FUNCTION_TARGET names classify_message).
os.environ.pop("FUNCTION_TARGET", None)
import main  # noqa: E402  functions/main.py: the real declaration
from chat_emotion import handler  # noqa: E402
from function_latency import naive_classify_factory  # noqa: E402

handler.classify = naive_classify_factory(os.environ["NAIVE_CHECKPOINT"], None)
classify_message = main.classify_message
