#!/usr/bin/env bash
# The S3 weights mirror (aws.weightsCache: s3), sourced by steps/weights.sh and run-engine.sh.
# A prefix is trusted only when its manifest lists every object with a size and SHA-256 that S3's
# own checksums confirm (mirror.py check); a fresh download is checked against its source before it
# is uploaded create-only, its manifest last. Only the host talks to S3, with the instance role;
# a streaming engine gets short-lived, read-only credentials of the weights-read role instead.
# Needs lib.sh (sourced by the caller) and the env file loaded.

MIRROR_WORK="$STATE_DIR/mirror"
# The CLI's image (no host aws) sees the files it reads and writes at the same paths (lib.sh aws_cli).
# shellcheck disable=SC2034
AWS_CLI_DIRS="$MIRROR_WORK $HF_CACHE $OLLAMA_CACHE"

# mirror.py with what it reads: the model, the mirror, the CLI (one word a line) and a work folder.
mirror_py() {
  mkdir -p "$MIRROR_WORK"
  MIRROR_WORK="$MIRROR_WORK" MIRROR_AWS="$(aws_cli_words)" MIRROR_OLLAMA_MANIFEST="${MIRROR_OLLAMA_MANIFEST:-}" \
    WEIGHTS_SOURCE="$WEIGHTS_SOURCE" MODEL_REF="$MODEL_REF" MODEL_REVISION="${MODEL_REVISION:-}" \
    WEIGHTS_MIRROR_BUCKET="$WEIGHTS_MIRROR_BUCKET" WEIGHTS_MIRROR_REGION="$WEIGHTS_MIRROR_REGION" \
    WEIGHTS_MIRROR_PREFIX="$WEIGHTS_MIRROR_PREFIX" WEIGHTS_MIRROR_CACHE_KEY="${WEIGHTS_MIRROR_CACHE_KEY:-}" QS_PHASE="$QS_PHASE" \
    python3 "$QS_LIB/mirror.py" "$@"
}

# Record that this stack still boots with the model (npm run reap --weights reads these); a cache
# bookkeeping write, so a failure is logged, not fatal.
mirror_used() {
  mkdir -p "$MIRROR_WORK"
  printf '{"prefix":"%s","time":"%s"}\n' "$WEIGHTS_MIRROR_PREFIX" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$MIRROR_WORK/used.json"
  aws_cli s3api put-object --region "$WEIGHTS_MIRROR_REGION" --bucket "$WEIGHTS_MIRROR_BUCKET" \
    --key "$WEIGHTS_MIRROR_USED_KEY" --body "$MIRROR_WORK/used.json" >/dev/null 2>"$MIRROR_WORK/used.err" ||
    log "mirror: could not write the used marker $WEIGHTS_MIRROR_USED_KEY: $(tail -n 1 "$MIRROR_WORK/used.err")"
}

# The Hub's file list for the pinned commit, with sizes, LFS sha256 and git blob ids. The token
# goes in a root-only header file, never on a command line.
mirror_hub_files() {
  local out="$1" header="$SECRETS_DIR/.hub-header" token url
  token="$(sed -n 's/^HF_TOKEN=//p' "$SECRETS_DIR/hf.env" 2>/dev/null | head -n 1)"
  (umask 077 && { [ -z "$token" ] || printf 'Authorization: Bearer %s\n' "$token"; } >"$header")
  url="${HF_ENDPOINT:-https://huggingface.co}/api/models/${MODEL_REF}/revision/${MODEL_REVISION}?blobs=true"
  local rc=0
  retry curl -fsS --max-time 60 -H "@$header" -o "$out" "$url" 2>"$MIRROR_WORK/hub.err" || rc=1
  rm -f "$header"
  [ "$rc" = 0 ] || log "mirror: the Hub's file list ($url) could not be read: $(tail -n 1 "$MIRROR_WORK/hub.err")"
  return "$rc"
}

# After a download: verify it against its source, write the verified file list, and seed the prefix.
# Args: the local folder the files are relative to, and that folder relative to the weights cache.
mirror_seed() {
  local root="$1" rel="$2"
  if [ "$WEIGHTS_SOURCE" = hf ]; then
    mirror_hub_files "$MIRROR_WORK/hub.json" || return 1
    mirror_py verify-hf "$MIRROR_WORK/hub.json" "$root" || return 1
  else
    mirror_py verify-ollama "$root" || return 1
  fi
  mirror_py files-list "$rel" >"$STATE_DIR/weights.files"
  mirror_py seed
}

# Short-lived credentials of the weights-read role for the engine container, as a root-only env
# file (tmpfs on the machine): never on a command line, never logged. Role chaining caps them at an
# hour; the streamer reads them once per load, and each engine start assumes the role again.
mirror_engine_credentials() {
  local file="$1"
  mkdir -p "$(dirname "$file")"
  (
    umask 077
    aws_cli sts assume-role --region "$WEIGHTS_MIRROR_REGION" --role-arn "$WEIGHTS_MIRROR_READ_ROLE_ARN" \
      --role-session-name qwen3-serve-engine --duration-seconds 3600 --query Credentials --output json >"$file.json" &&
      python3 - "$file.json" "$WEIGHTS_MIRROR_REGION" >"$file.tmp" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
pairs = {
    "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
    "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
    "AWS_SESSION_TOKEN": c["SessionToken"],
    "AWS_REGION": sys.argv[2],
    "AWS_DEFAULT_REGION": sys.argv[2],
    "AWS_EC2_METADATA_DISABLED": "true",
}
if any("\n" in v or not v for v in pairs.values()):
    sys.exit("assume-role returned an empty or multi-line value")
print("".join(f"{k}={v}\n" for k, v in pairs.items()), end="")
PY
  )
  local rc=$?
  rm -f "$file.json"
  if [ "$rc" = 0 ]; then mv -f "$file.tmp" "$file"; else rm -f "$file.tmp"; fi
  return "$rc"
}

# A fleet's compile cache (WEIGHTS_MIRROR_CACHE_KEY, empty on a single machine): the first replica to
# serve packs its engine cache and uploads it create-only; a later replica unpacks it before its
# engine starts, so torch.compile reads it instead of compiling. The marker holds the key once this
# machine got or shared it. A cache is an optimisation: every failure is logged, none is fatal.
ENGINE_CACHE_MARKER="$STATE_DIR/engine-cache.key"

engine_cache_done() {
  [ "$(cat "$ENGINE_CACHE_MARKER" 2>/dev/null)" = "$WEIGHTS_MIRROR_CACHE_KEY" ]
}

# Before the engine starts: only into an empty cache, so nothing this machine compiled is overwritten.
engine_cache_fetch() {
  [ -n "${WEIGHTS_MIRROR_CACHE_KEY:-}" ] && ! engine_cache_done || return 0
  [ -z "$(ls -A "$ENGINE_CACHE" 2>/dev/null)" ] || return 0
  if mirror_py cache-fetch "$ENGINE_CACHE"; then printf '%s\n' "$WEIGHTS_MIRROR_CACHE_KEY" >"$ENGINE_CACHE_MARKER"; fi
  return 0
}

# After the first token, on a machine that did not get the cache: the engine has compiled by then.
engine_cache_share() {
  [ -n "${WEIGHTS_MIRROR_CACHE_KEY:-}" ] && ! engine_cache_done || return 0
  if [ -z "$(ls -A "$ENGINE_CACHE" 2>/dev/null)" ]; then
    log "mirror: the engine cache is empty; nothing to share"
    return 0
  fi
  if mirror_py cache-share "$ENGINE_CACHE"; then printf '%s\n' "$WEIGHTS_MIRROR_CACHE_KEY" >"$ENGINE_CACHE_MARKER"; fi
  return 0
}
