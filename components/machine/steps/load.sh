#!/usr/bin/env bash
# Phase load: start (or restart, when the planned command changed) the engine unit and wait until
# the engine has loaded the model: vLLM and SGLang list it on /v1/models after /health turns 200;
# Ollama loads it on a generate call with keep_alive -1, so it stays resident.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"

engine_url="http://127.0.0.1:${ENGINE_PORT}"
# A fleet replica on the mirror first unpacks the fleet's compile cache, when one is shared (mirror.sh).
if [ -n "${WEIGHTS_MIRROR_CACHE_KEY:-}" ]; then
  # shellcheck source=../mirror.sh
  . "$QS_LIB/mirror.sh"
else
  engine_cache_fetch() { :; }
fi
# The watchdog's and the proxy's settings are not the engine's: changing them must not reload the model.
fingerprint="$({
  grep -Ev '^(IDLE_[A-Z_]+|FLEET_[A-Z_]+|TTL_HOURS|PROXY_PORT|TLS_DOMAIN|TLS_EMAIL)=' "$QS_ENV_FILE" || true
  cat "$ENGINE_ARGV_FILE" "$ENGINE_ENV_FILE"
} | sha256sum | awk '{print $1}')"
started_file="$STATE_DIR/engine.fingerprint"

changed=0
if [ "$(cat "$started_file" 2>/dev/null || true)" != "$fingerprint" ]; then
  log "starting the engine with the planned command"
  engine_cache_fetch
  systemctl restart qwen3-serve-engine.service
  changed=1
elif ! systemctl is-active --quiet qwen3-serve-engine.service; then
  engine_cache_fetch
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

# Ollama loads a model inside the request that asks for it, and aborts the load when that client
# hangs up first ("client connection closed before llama-server finished loading, aborting load",
# ollama/ollama:llm/server.go WaitUntilRunning, checked 2026-11-30). So the call may take as long
# as the whole load budget: a shorter one would cancel every load that outlasts it.
ollama_loaded() {
  local left=$((deadline - SECONDS))
  [ "$left" -gt 0 ] || left=1
  [ "$(HTTP_TIMEOUT_SECONDS="$left" http_code -X POST "$engine_url/api/generate" -H 'Content-Type: application/json' \
    -d "{\"model\":\"${SERVED_MODEL}\",\"keep_alive\":-1}")" = 200 ]
}

# How often systemd has restarted the engine (Restart=always): it never gives up on its own, so a
# bad flag, a driver mismatch or an out-of-memory error would read as a slow load until the timeout.
engine_restarts() {
  local n
  n="$(systemctl show -p NRestarts --value qwen3-serve-engine.service 2>/dev/null || true)"
  printf '%s' "${n:-0}"
}

deadline=$((SECONDS + ${LOAD_TIMEOUT_SECONDS:-1800}))
restarts_before="$(engine_restarts)"
while true; do
  if [ "$WEIGHTS_SOURCE" = ollama ]; then
    ollama_loaded && break
  elif [ "$(http_code "$engine_url${ENGINE_HEALTH_PATH}")" = 200 ] && model_listed; then
    break
  fi
  if systemctl is-failed --quiet qwen3-serve-engine.service; then
    fail "the engine unit failed while loading ${SERVED_MODEL}; its last log lines:
$(engine_log_tail 20)"
  fi
  exits=$(($(engine_restarts) - restarts_before))
  if [ "$exits" -ge "${ENGINE_MAX_RESTARTS:-3}" ]; then
    fail "the engine exited ${exits} times while loading ${SERVED_MODEL} (systemd restarts it each time); its last log lines:
$(engine_log_tail 20)"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    fail "the engine did not load ${SERVED_MODEL} within ${LOAD_TIMEOUT_SECONDS:-1800}s; see journalctl -u qwen3-serve-engine"
  fi
  sleep "${POLL_SECONDS:-5}"
done

printf '%s\n' "$fingerprint" >"$started_file"
[ "$changed" = 1 ] || exit 20
log "${SERVED_MODEL} is loaded"
