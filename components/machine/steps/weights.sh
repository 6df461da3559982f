#!/usr/bin/env bash
# Phase weights: download the model into the persistent cache, retrying with backoff, and skip
# whatever is already complete. Hugging Face repos go through `hf download` (run from the engine
# image, so the host needs no Python packages); Ollama tags go through the server's /api/pull.
# Progress (percent of the expected size) goes to the status file while the download runs.
# With the S3 weights mirror (WEIGHTS_MIRROR=s3, mirror.sh) a checked prefix replaces the download:
# the engine streams it (WEIGHTS_MIRROR_STREAM=1) or it is copied to the cache; a download is
# verified against its source and then seeds the prefix.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"
mirror="${WEIGHTS_MIRROR:-}"
stream="${WEIGHTS_MIRROR_STREAM:-}"
if [ -n "$mirror" ]; then
  # shellcheck source=../mirror.sh
  . "$QS_LIB/mirror.sh"
fi

marker="$STATE_DIR/weights.done"
# What is on disk: "size<TAB>sha256 or -<TAB>path below the cache", written after each download or copy.
files_list="$STATE_DIR/weights.files"
want="${WEIGHTS_SOURCE} ${MODEL_REF} ${MODEL_REVISION:-main}"
snapshots="hub/models--${MODEL_REF//\//--}/snapshots"

# Ollama's store path of a tag: [host/][namespace/]name:tag, registry.ollama.ai, library and latest
# by default (ollama/ollama types/model/name.go ParseName).
ollama_manifest() {
  local name="${MODEL_REF%:*}" tag="${MODEL_REF##*:}"
  [ "$tag" != "$MODEL_REF" ] || tag=latest
  case "$name" in
    */*/*) ;;
    */*) name="registry.ollama.ai/$name" ;;
    *) name="registry.ollama.ai/library/$name" ;;
  esac
  printf 'manifests/%s/%s' "$name" "$tag"
}
MIRROR_OLLAMA_MANIFEST="$(ollama_manifest)"
case "$WEIGHTS_SOURCE" in
  hf) base="$HF_CACHE" ;;
  *) base="$OLLAMA_CACHE" ;;
esac

# Whether the weights of an earlier run, or of a baked image, are still what the marker says: every
# listed file there with its size, under the commit's snapshot folder (hf), or a manifest whose
# sha256 is the digest (ollama). A streaming engine reads S3, so there the mirror check decides.
in_place() {
  [ -f "$marker" ] && [ "$(head -n 1 "$marker")" = "$want" ] || return 1
  if [ "$mirror" = s3 ] && [ "$stream" = 1 ]; then
    mirror_py check --hash-composite
    return
  fi
  local rev size rel
  rev="$(sed -n 2p "$marker")"
  [ -s "$files_list" ] || { log "no list of the files in place; checking the weights again"; return 1; }
  while IFS=$'\t' read -r size _ rel; do
    if [ "$WEIGHTS_SOURCE" = hf ] && [[ "$rel" != "$snapshots/$rev/"* ]]; then
      log "$rel is not in the snapshot folder of ${rev}; checking the weights again"
      return 1
    fi
    if [ "$(stat -Lc %s "$base/$rel" 2>/dev/null)" != "$size" ]; then
      log "$rel is missing or not $size bytes; checking the weights again"
      return 1
    fi
  done <"$files_list"
  if [ "$WEIGHTS_SOURCE" = ollama ] &&
    [ "$(sha256sum "$base/models/$MIRROR_OLLAMA_MANIFEST" 2>/dev/null | cut -d ' ' -f 1)" != "$rev" ]; then
    log "the manifest of ${MODEL_REF} is not digest ${rev}; checking the weights again"
    return 1
  fi
}

# The list of what a download without the mirror left (sizes only: nothing verified their hashes).
list_downloaded() {
  if [ "$WEIGHTS_SOURCE" = hf ]; then
    find -L "$base/$snapshots/$1" -type f -printf "%s\t-\t$snapshots/$1/%P\n"
    return
  fi
  python3 - "$base/models" "$MIRROR_OLLAMA_MANIFEST" <<'PY'
import json, os, sys
models, rel = sys.argv[1:3]
path = os.path.join(models, rel)
print(f"{os.path.getsize(path)}\t-\tmodels/{rel}")
m = json.load(open(path))
for layer in [m.get("config"), *m.get("layers", [])]:
    if layer:
        print(f"{layer['size']}\t-\tmodels/blobs/{layer['digest'].replace(':', '-')}")
PY
}

# The mirror is a cache: when the engine loads from local disk, a failed seed only costs the next
# machine a download. A streaming engine needs the objects, so there it stops the phase.
seed_or_fail() {
  local root="$1" rel="$2"
  mirror_seed "$root" "$rel" && return 0
  [ "$stream" = 1 ] &&
    fail "could not seed s3://${WEIGHTS_MIRROR_BUCKET}/${WEIGHTS_MIRROR_PREFIX}/, which the engine streams from (see the mirror lines above)"
  log "mirror: not seeded; the engine loads the local copy"
}

if [ "$mirror" = s3 ]; then mirror_used; fi
if in_place; then
  status set versions.modelRevision "$(sed -n 2p "$marker")"
  exit 20
fi
rm -f "$files_list"

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

ollama_digest() {
  curl -s "http://127.0.0.1:${ENGINE_PORT}/api/tags" | python3 -c '
import json, sys
want = sys.argv[1]
for m in json.load(sys.stdin).get("models", []):
    if m.get("name") == want or m.get("model") == want:
        print(m.get("digest", "")); break' "$MODEL_REF"
}

mkdir -p "$HF_CACHE" "$OLLAMA_CACHE"
# Where the weights came from: "" (the source), "mirror" (copied) or "stream" (the engine reads S3).
from=""
case "$WEIGHTS_SOURCE" in
  hf)
    cache="$HF_CACHE/hub/models--${MODEL_REF//\//--}"
    watch_progress "$cache" &
    watcher=$!
    trap 'kill "$watcher" 2>/dev/null || true' EXIT
    if [ "$mirror" = s3 ] && mirror_py check "$([ "$stream" = 1 ] && echo --hash-composite)"; then
      if [ "$stream" = 1 ]; then
        from=stream
      elif mirror_py copy "$base/$snapshots/$MODEL_REVISION"; then
        from=mirror
        mirror_py files-list "$snapshots/$MODEL_REVISION" >"$files_list"
      else
        log "mirror: the copy failed its checks; downloading from Hugging Face"
      fi
      revision="$MODEL_REVISION"
    fi
    if [ -z "$from" ]; then
      if ! retry hf_download; then
        fail "hf download of ${MODEL_REF} failed after ${RETRY_ATTEMPTS:-5} attempts: $(grep -v '^\s*$' "$STATE_DIR/hf-download.err" | tail -n 1)"
      fi
      # hf prints the snapshot folder; its name is the commit we now serve.
      snapshot="$(grep -v '^\s*$' "$STATE_DIR/hf-download.out" | tail -n 1)"
      revision="$(basename "$snapshot")"
      if [ "$mirror" = s3 ]; then
        seed_or_fail "$base/$snapshots/$revision" "$snapshots/$revision"
      fi
    fi
    ;;
  ollama)
    if [ "$mirror" = s3 ] && mirror_py check && mirror_py copy "$base/models"; then
      from=mirror
      mirror_py files-list models >"$files_list"
    fi
    systemctl start qwen3-serve-engine.service
    wait_for_ollama
    if [ -z "$from" ] && ! retry ollama_pull; then
      fail "ollama pull ${MODEL_REF} failed after ${RETRY_ATTEMPTS:-5} attempts: $(tail -n 1 "$STATE_DIR/ollama-pull.out")"
    fi
    revision="$(ollama_digest)"
    if [ -n "${MODEL_REVISION:-}" ] && [ "$revision" != "$MODEL_REVISION" ]; then
      fail "${MODEL_REF} resolved to digest ${revision}${from:+ after the copy from the mirror}, but the stack pins ${MODEL_REVISION}"
    fi
    if [ -z "$from" ] && [ "$mirror" = s3 ]; then seed_or_fail "$base/models" models; fi
    ;;
  *) fail "unknown WEIGHTS_SOURCE ${WEIGHTS_SOURCE}" ;;
esac

[ -n "$revision" ] || fail "could not tell which revision of ${MODEL_REF} was downloaded"
# The files a later run (or a baked image) checks before it skips this phase.
if [ "$from" = stream ]; then
  rm -f "$files_list"
elif [ ! -s "$files_list" ]; then
  if list_downloaded "$revision" >"$files_list.tmp" 2>/dev/null; then
    mv -f "$files_list.tmp" "$files_list"
  else
    rm -f "$files_list.tmp"
    log "could not list the downloaded files; the next run checks them again"
  fi
fi
status progress 100 "complete"
status set versions.modelRevision "$revision"
printf '%s\n%s\n' "$want" "$revision" >"$marker"
log "${MODEL_REF} at ${revision} is in the cache"
