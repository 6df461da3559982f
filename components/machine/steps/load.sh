#!/usr/bin/env bash
# Phase load: start (or restart, when the planned command changed) the engine unit and wait until
# the engine has loaded the model: vLLM and SGLang list it on /v1/models after /health turns 200;
# Ollama loads it on a generate call with keep_alive -1, so it stays resident.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"

engine_url="http://127.0.0.1:${ENGINE_PORT}"
# The idle watchdog's settings are not the engine's: changing the window must not reload the model.
fingerprint="$({ grep -Ev '^(IDLE_[A-Z_]+|TTL_HOURS)=' "$QS_ENV_FILE" || true; cat "$CONF_DIR/engine.argv" "$CONF_DIR/engine.env"; } | sha256sum | awk '{print $1}')"
started_file="$STATE_DIR/engine.fingerprint"

changed=0
if [ "$(cat "$started_file" 2>/dev/null || true)" != "$fingerprint" ]; then
  log "starting the engine with the planned command"
  systemctl restart qwen3-serve-engine.service
  changed=1
elif ! systemctl is-active --quiet qwen3-serve-engine.service; then
  systemctl start qwen3-serve-engine.service
  changed=1
fi

model_listed() {
  curl -s --max-time 10 "$engine_url/v1/models" | python3 -c '
import json, sys
try:
    ids = [m.get("id") for m in json.load(sys.stdin).get("data", [])]
except ValueError:
    sys.exit(1)
sys.exit(0 if sys.argv[1] in ids else 1)' "$SERVED_MODEL"
}

ollama_loaded() {
  [ "$(http_code -X POST "$engine_url/api/generate" -H 'Content-Type: application/json' \
    -d "{\"model\":\"${SERVED_MODEL}\",\"keep_alive\":-1}")" = 200 ]
}

deadline=$((SECONDS + ${LOAD_TIMEOUT_SECONDS:-1800}))
while true; do
  if [ "$WEIGHTS_SOURCE" = ollama ]; then
    ollama_loaded && break
  elif [ "$(http_code "$engine_url${ENGINE_HEALTH_PATH}")" = 200 ] && model_listed; then
    break
  fi
  if systemctl is-failed --quiet qwen3-serve-engine.service; then
    fail "the engine unit failed while loading ${SERVED_MODEL}; see journalctl -u qwen3-serve-engine"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    fail "the engine did not load ${SERVED_MODEL} within ${LOAD_TIMEOUT_SECONDS:-1800}s; see journalctl -u qwen3-serve-engine"
  fi
  sleep "${POLL_SECONDS:-5}"
done

printf '%s\n' "$fingerprint" >"$started_file"
[ "$changed" = 1 ] || exit 20
log "${SERVED_MODEL} is loaded"
