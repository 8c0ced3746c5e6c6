#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian/Ubuntu machine. Safe to run again.
#   scripts/setup.sh        everything: torch (CPU unless there is an NVIDIA GPU), the training,
#                           app and dev extras (what `make test` needs; ~3-4 min from a fast mirror)
#   scripts/setup.sh run    only what `make run` needs: the serving stack and the app, no torch (~1 min)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
VENV=${VENV:-.venv}
MODE=${1:-full}

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  found=$(command -v python3.12 || command -v python3.11 || true)
  echo "[setup] $PY is $("$PY" --version 2>&1 || echo missing); the project needs Python >= 3.11." >&2
  [ -n "$found" ] && echo "[setup] found $found: run \`make ${MODE/full/setup} PY=$found\`" >&2 \
    || echo "[setup] install python3.11 (and python3.11-venv), then run \`make ... PY=python3.11\`" >&2
  exit 1
fi

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
PIP=("$VENV/bin/pip" install --disable-pip-version-check)
if [ "$MODE" = run ]; then
  log "installing the serving stack and the app (no torch: make run does not train)"
  "${PIP[@]}" -e ".[app,ondevice]"
else
  # torch first and pinned: a bare "torch" requirement would pull a multi-GB CUDA build.
  mapfile -t torch_opts < <("$VENV/bin/python" scripts/torch_source.py)
  where=${torch_opts[*]:-from the configured index}
  log "installing torch 2.13.0 $where"
  "${PIP[@]}" "${torch_opts[@]}" torch==2.13.0
  log "installing the project (editable, with the training, app and dev extras)"
  "${PIP[@]}" -e ".[dev]"
fi
log "done: $("$VENV/bin/python" --version) in $VENV ($MODE)"
