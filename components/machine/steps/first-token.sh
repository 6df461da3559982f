#!/usr/bin/env bash
# Phase first-token: prove the public path works end to end. Through the proxy, a request without
# the key must get 401, and a real one-token chat completion with the key must succeed.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"

if [ -n "${TLS_DOMAIN:-}" ]; then
  base="https://${TLS_DOMAIN}:${PROXY_PORT}"
  resolve=(--resolve "${TLS_DOMAIN}:${PROXY_PORT}:127.0.0.1")
else
  base="http://127.0.0.1:${PROXY_PORT}"
  resolve=()
fi
body="{\"model\":\"${SERVED_MODEL}\",\"messages\":[{\"role\":\"user\",\"content\":\"Reply with OK.\"}],\"max_tokens\":1}"

code="$(http_code "${resolve[@]}" -X POST "$base/v1/chat/completions" -H 'Content-Type: application/json' -d "$body")"
[ "$code" = 401 ] || fail "the proxy answered ${code} to a request without the API key; it must answer 401"

deadline=$((SECONDS + ${READY_TIMEOUT_SECONDS:-300}))
while true; do
  code="$(curl -s -o "$STATE_DIR/first-token.json" -w '%{http_code}' --max-time 120 "${resolve[@]}" \
    -X POST "$base/v1/chat/completions" -H "@$(auth_header_file)" -H 'Content-Type: application/json' -d "$body" || true)"
  if [ "$code" = 200 ] && python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
sys.exit(0 if doc.get("choices") else 1)' "$STATE_DIR/first-token.json" 2>/dev/null; then
    break
  fi
  [ "$SECONDS" -lt "$deadline" ] || fail "no successful chat completion through the proxy within ${READY_TIMEOUT_SECONDS:-300}s (last HTTP status ${code})"
  sleep "${POLL_SECONDS:-5}"
done
log "a one-token chat completion for ${SERVED_MODEL} succeeded through the proxy"

# A fleet replica on the mirror that compiled for itself shares its compile cache (mirror.sh).
if [ -n "${WEIGHTS_MIRROR_CACHE_KEY:-}" ]; then
  # shellcheck source=../mirror.sh
  . "$QS_LIB/mirror.sh"
  engine_cache_share
fi
