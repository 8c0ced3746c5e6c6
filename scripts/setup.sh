#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian/Ubuntu machine. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
VENV=${VENV:-.venv}

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# System libraries Kivy needs to draw (offscreen or under Xvfb). Only when we may install them.
need_apt=()
for pkg in libgl1 libegl1 xvfb xauth libmtdev1 xclip; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if ((${#need_apt[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install ${need_apt[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    log "missing system packages (install them for the app's window tests): ${need_apt[*]}"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  "$PY" -m venv "$VENV"
fi
# torch first and pinned: a bare "torch" requirement would pull a multi-GB CUDA build.
log "installing torch (CPU) and the project (editable, with dev extras)"
"$VENV/bin/pip" install -q --disable-pip-version-check torch==2.13.0
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev]"
log "done: $("$VENV/bin/python" --version) in $VENV"
