"""What can be checked of the Android build without the SDK/NDK downloads buildozer needs."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.servers import REPO_ROOT

APP_DIR = REPO_ROOT / "mobile_app"
# python-for-android recipes (or pure-Python packages, which need none) the app can use.
BUILDABLE = {"python3", "kivy", "numpy", "requests", "urllib3", "certifi", "charset-normalizer", "idna",
             "openssl"}


def spec() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(APP_DIR / "buildozer.spec")
    return parser


def test_buildozer_spec_names_an_app_python_for_android_can_build():
    app = spec()["app"]
    assert app["package.name"].isidentifier() and app["package.domain"]
    assert "android.permission.INTERNET" in app["android.permissions"]
    requirements = [r.strip().split("==")[0] for r in app["requirements"].split(",")]
    assert requirements[0] == "python3" and "kivy" in requirements and "requests" in requirements
    assert set(requirements) <= BUILDABLE, set(requirements) - BUILDABLE
    assert not {"grpcio", "google-cloud-firestore", "firebase-admin", "onnxruntime", "tokenizers"} & set(
        requirements)
    assert "numpy" in requirements and "onnx" in app["source.include_exts"].split(",")  # the device's engine
    assert "device_model" not in app["source.exclude_patterns"]
    assert {"py", "kv"} <= set(app["source.include_exts"].split(","))
    # A developer's own config is not shipped by accident.
    assert "firebase-app.json" in app["source.exclude_patterns"]
    assert int(app["android.minapi"]) >= 21 and int(app["android.api"]) >= 33  # Play's target-API floor


def test_kivy_pin_matches_the_project():
    pinned = next(r for r in spec()["app"]["requirements"].split(",") if r.strip().startswith("kivy"))
    pyproject = (REPO_ROOT / "pyproject.toml").read_text()
    assert f'"{pinned.strip()}"' in pyproject


def test_the_apk_layout_starts(tmp_path):
    """buildozer packs mobile_app/'s files at the APK root and runs main.py: do the same here."""
    root = tmp_path / "apk"
    root.mkdir()
    for path in APP_DIR.iterdir():
        if path.suffix in {".py", ".kv"}:
            shutil.copy(path, root / path.name)
    probe = ("import runpy, sys; runpy.run_path('main.py'); import mobile_app.app as a; "
             "print(a.__file__); print(a.KV_FILE.is_file())")
    out = subprocess.run([sys.executable, "-I", "-c", probe], cwd=root, capture_output=True, text=True,
                         timeout=60, env={"KIVY_NO_ARGS": "1", "KIVY_HOME": str(tmp_path / "kivy"),
                                          "KIVY_LOG_MODE": "PYTHON", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(root / "app.py"), "True"]  # the copy, not the checkout
    help_text = subprocess.run([sys.executable, "-I", "main.py", "--help"], cwd=root, capture_output=True,
                               text=True, timeout=60)
    assert help_text.returncode == 0 and "--emulator" in help_text.stdout


def test_logic_modules_do_not_import_kivy():
    """The outbox, REST client and state machine stay usable (and testable) without a window."""
    probe = ("import sys, mobile_app.sync, mobile_app.config, mobile_app.presentation; "
             "print('kivy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_kv_file_is_package_data():
    assert '"*.kv"' in (REPO_ROOT / "pyproject.toml").read_text()
    assert sorted(p.name for p in Path(APP_DIR).glob("*.kv")) == ["screens.kv"]


def test_the_apk_layout_labels_on_the_device_with_the_bundled_numpy_engine(tmp_path):
    """What `make device-model` bundles, laid out as buildozer packs it, labels a text with numpy
    from the APK's own copy of chat_emotion (none installed: the interpreter runs without site)."""
    from mobile_app.ondevice import bundle

    root = tmp_path / "apk"
    root.mkdir()
    for path in APP_DIR.iterdir():
        if path.suffix in {".py", ".kv"}:
            shutil.copy(path, root / path.name)
    bundle("distilbert", dest=root / "device_model")
    import numpy

    site = tmp_path / "site"  # numpy alone, as python-for-android's recipe provides it
    site.mkdir()
    numpy_home = Path(numpy.__file__).resolve().parent
    for entry in (numpy_home, numpy_home.with_name("numpy.libs")):
        if entry.exists():
            (site / entry.name).symlink_to(entry)
    probe = ("import runpy, sys; runpy.run_path('main.py'); import chat_emotion.numpy_runtime as n; "
             "from mobile_app.ondevice import DeviceLabeller; "
             "d = DeviceLabeller(name='distilbert'); d.load(); "
             "print(n.__file__); print(d.engine_used, d.label('i am so happy and grateful today').label)")
    base = getattr(sys, "_base_executable", sys.executable)
    out = subprocess.run([base, "-S", "-c", probe], cwd=root, capture_output=True, text=True, timeout=120,
                         env={"KIVY_NO_ARGS": "1", "KIVY_HOME": str(tmp_path / "kivy"),
                              "PYTHONPATH": str(site), "KIVY_LOG_MODE": "PYTHON", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    engine_file = root / "device_model" / "chat_emotion" / "numpy_runtime.py"
    assert out.stdout.split() == [str(engine_file), "numpy", "joy"]
