"""The function served locally as Cloud Functions would run it, for the benchmarks that need HTTP.

`FunctionServer` spawns functions-framework (behind `chat_emotion.emulator_adapter`, which is a
pass-through for raw protobuf bodies) on a free port of 127.0.0.1 and stops it by its own process
group. `source` is functions/main.py, or benchmarks/naive_main.py for the transformers.pipeline
baseline. The Firestore emulator comes from tests/support/servers.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from common import REPO_ROOT, compile_function_source

sys.path.insert(0, str(REPO_ROOT))

from tests.support.servers import (  # noqa: E402
    FirestoreEmulator,
    free_port,
    stop_process_group,
    why_no_firestore_emulator,
)

MAIN_SOURCE = REPO_ROOT / "functions" / "main.py"
# What the cloud installs for main.py (requirements.txt; `make setup-e2e`). The baseline needs torch,
# so it runs in the project's .venv.
FUNCTION_PYTHON = REPO_ROOT / "functions" / "venv" / "bin" / "python"
NAIVE_SOURCE = REPO_ROOT / "benchmarks" / "naive_main.py"
TARGET = "classify_message"
MESSAGE_PATTERN = "users/{uid}/messages/{messageId}"

__all__ = ["FirestoreEmulator", "FunctionServer", "free_port", "why_no_firestore_emulator"]


class FunctionServer:
    """functions-framework serving `source`'s classify_message; `spawned_at` is when it was started."""

    def __init__(
        self,
        source: Path,
        *,
        project: str,
        firestore_host: str,
        store: Path,
        model: str = "store",
        hf_checkpoint: Path | None = None,
        port: int | None = None,
        log_path: Path | None = None,
        extra_env: dict[str, str] | None = None,
        cpus: set[int] | None = None,
    ) -> None:
        """`cpus`: the cores the server may run on (one core stands in for the cloud's CPU=1)."""
        self.cpus = cpus
        self.port = port or free_port()
        self.log_path = log_path or Path(f"/tmp/function-{self.port}.log")
        self.env = {
            **os.environ,
            "GCLOUD_PROJECT": project,
            "FIRESTORE_EMULATOR_HOST": firestore_host,
            "MODEL_STORE": str(store),
            "DEFAULT_MODEL": model,
            "NO_GCE_CHECK": "true",
            "METADATA_SERVER_DETECTION": "none",
            "PYTHONUNBUFFERED": "1",
            "NAIVE_CHECKPOINT": str(hf_checkpoint or ""),
            "PYTHONPATH": str(REPO_ROOT / "functions"),  # chat_emotion, as in the deployed source folder
            **(extra_env or {}),
        }
        self.source = source
        self.spawned_at = 0.0
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FunctionServer:
        compile_function_source()  # the cloud's build step, not part of a cold start
        ours = self.source == MAIN_SOURCE and FUNCTION_PYTHON.exists()
        python = FUNCTION_PYTHON if ours else Path(sys.executable)
        with open(self.log_path, "wb") as out:
            self.spawned_at = time.time()
            self._proc = subprocess.Popen(
                [
                    str(python),
                    "-m",
                    "chat_emotion.emulator_adapter",
                    "--source",
                    str(self.source),
                    "--target",
                    TARGET,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=REPO_ROOT,
                preexec_fn=(lambda: os.sched_setaffinity(0, self.cpus)) if self.cpus else None,
            )
        return self

    def wait_listening(self, timeout: float = 120.0) -> float:
        """Block until the port accepts connections; the time.time() it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError(f"function server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return time.time()
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"function server not listening after {timeout:.0f} s: see {self.log_path}")

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self) -> None:
        """End the server this object started (its own process group, by pid), nothing else."""
        if self._proc is None:
            return
        stop_process_group(self._proc)
        self._proc = None

    def __enter__(self) -> FunctionServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
