"""The script python-for-android starts (`main.py` at the APK's root); desktops use `python -m mobile_app`.

buildozer packs this folder's files at the APK's root, where no `mobile_app/` folder exists: the
folder is registered as the `mobile_app` package here, so the same imports work in both layouts, and
`device_model/` (the bundled model and the numpy engine's `chat_emotion`) goes on the path.
"""

import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

if "mobile_app" not in sys.modules:
    spec = importlib.util.spec_from_file_location(
        "mobile_app", os.path.join(HERE, "__init__.py"), submodule_search_locations=[HERE])
    package = importlib.util.module_from_spec(spec)
    sys.modules["mobile_app"] = package
    spec.loader.exec_module(package)

# An APK carries chat_emotion's numpy engine in device_model/ (mobile_app.ondevice.bundle_engine).
if importlib.util.find_spec("chat_emotion") is None and os.path.isdir(os.path.join(HERE, "device_model")):
    sys.path.append(os.path.join(HERE, "device_model"))

from mobile_app.__main__ import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
