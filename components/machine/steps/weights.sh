#!/usr/bin/env bash
# Phase weights: download the model into the persistent cache, retrying with backoff, and skip
# whatever is already complete. Hugging Face repos go through `hf download` (run from the engine
# image, so the host needs no Python packages); Ollama tags go through the server's /api/pull.
# Progress (percent of the expected size) goes to the status file while the download runs.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"

marker="$STATE_DIR/weights.done"
want="${WEIGHTS_SOURCE} ${MODEL_REF} ${MODEL_REVISION:-main}"
if [ -f "$marker" ] && [ "$(head -n 1 "$marker")" = "$want" ]; then
  status set versions.modelRevision "$(sed -n 2p "$marker")"
  exit 20
fi

# Report progress from the size of the cache directory against the planned size.
watch_progress() {
  local dir="$1"
  # A reporter must not die on a transient error (the cache folder appears only once hf starts).
  set +e +o pipefail
  while sleep "${PROGRESS_INTERVAL_SECONDS:-5}"; do
    local have
    # Regular files only: blobs and partial downloads, not directory entries or snapshot symlinks.
    have="$(find "$dir" -type f -printf '%s\n' 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')"
    python3 - "$have" "$WEIGHTS_EXPECTED_BYTES" <<'PY' | { read -r pct detail; status progress "$pct" "$detail"; }
import sys
have, want = int(sys.argv[1] or 0), max(1, int(sys.argv[2]))
pct = min(99.0, round(100.0 * have / want, 1))
print(pct, f"{have / 1e9:.1f}/{want / 1e9:.1f}GB")
PY
  done
}

hf_download() {
  local args=(download "$MODEL_REF")
  [ -n "${MODEL_REVISION:-}" ] && args+=(--revision "$MODEL_REVISION")
  # Docker's default bridge network, not the host's: the download needs the internet, never the
  # instance metadata service (hop limit 1 keeps bridge containers from its tokens; see run-engine.sh).
  docker run --rm --env-file "$SECRETS_DIR/hf.env" -e HF_XET_HIGH_PERFORMANCE=1 \
    -v "$HF_CACHE:$QS_HF_CACHE_MOUNT" --entrypoint hf "$(engine_image_ref)" "${args[@]}" \
    >"$STATE_DIR/hf-download.out" 2>"$STATE_DIR/hf-download.err"
}

ollama_pull() {
  # /api/pull streams JSON lines; the last is {"status":"success"} or an {"error": ...}.
  curl -sS -N --max-time "${PULL_TIMEOUT_SECONDS:-21600}" -X POST "http://127.0.0.1:${ENGINE_PORT}/api/pull" \
    -H 'Content-Type: application/json' -d "{\"model\":\"${MODEL_REF}\",\"stream\":true}" >"$STATE_DIR/ollama-pull.out" 2>&1 || return 1
  tail -n 1 "$STATE_DIR/ollama-pull.out" | grep -q '"status":"success"'
}

wait_for_ollama() {
  local deadline=$((SECONDS + ${LOAD_TIMEOUT_SECONDS:-600}))
  until [ "$(http_code "http://127.0.0.1:${ENGINE_PORT}/api/version")" = 200 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the Ollama server did not answer on 127.0.0.1:${ENGINE_PORT}"
    sleep "${POLL_SECONDS:-2}"
  done
}

mkdir -p "$HF_CACHE" "$OLLAMA_CACHE"
case "$WEIGHTS_SOURCE" in
  hf)
    cache="$HF_CACHE/hub/models--${MODEL_REF//\//--}"
    watch_progress "$cache" &
    watcher=$!
    trap 'kill "$watcher" 2>/dev/null || true' EXIT
    if ! retry hf_download; then
      fail "hf download of ${MODEL_REF} failed after ${RETRY_ATTEMPTS:-5} attempts: $(grep -v '^\s*$' "$STATE_DIR/hf-download.err" | tail -n 1)"
    fi
    # hf prints the snapshot folder; its name is the commit we now serve.
    snapshot="$(grep -v '^\s*$' "$STATE_DIR/hf-download.out" | tail -n 1)"
    revision="$(basename "$snapshot")"
    ;;
  ollama)
    systemctl start qwen3-serve-engine.service
    wait_for_ollama
    if ! retry ollama_pull; then
      fail "ollama pull ${MODEL_REF} failed after ${RETRY_ATTEMPTS:-5} attempts: $(tail -n 1 "$STATE_DIR/ollama-pull.out")"
    fi
    revision="$(curl -s "http://127.0.0.1:${ENGINE_PORT}/api/tags" | python3 -c '
import json, sys
want = sys.argv[1]
for m in json.load(sys.stdin).get("models", []):
    if m.get("name") == want or m.get("model") == want:
        print(m.get("digest", "")); break' "$MODEL_REF")"
    if [ -n "${MODEL_REVISION:-}" ] && [ "$revision" != "$MODEL_REVISION" ]; then
      fail "${MODEL_REF} resolved to digest ${revision}, but the stack pins ${MODEL_REVISION}"
    fi
    ;;
  *) fail "unknown WEIGHTS_SOURCE ${WEIGHTS_SOURCE}" ;;
esac

[ -n "$revision" ] || fail "could not tell which revision of ${MODEL_REF} was downloaded"
status progress 100 "complete"
status set versions.modelRevision "$revision"
printf '%s\n%s\n' "$want" "$revision" >"$marker"
log "${MODEL_REF} at ${revision} is in the cache"
