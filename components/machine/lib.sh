#!/usr/bin/env bash
# Shared helpers for the qwen3-serve bootstrap: paths, env loading, logging, the status file,
# retries and idempotent writes. Sourced by bootstrap.sh, every step and run-engine.sh.

# Where things are comes from machine.env, installed beside these scripts and rendered from
# components/machine/render.ts (machineEnv), the one place that defines them. A missing fact stops
# the script here, before it acts on a wrong path.
if [ ! -r "$QS_LIB/machine.env" ]; then
  echo "qwen3-serve: missing $QS_LIB/machine.env" >&2
  exit 2
fi
# shellcheck source=/dev/null
. "$QS_LIB/machine.env"
for fact in QS_CONF_DIR QS_BOOTSTRAP_ENV QS_ENGINE_ARGV QS_ENGINE_ENV QS_STATE_DIR QS_STATUS_FILE QS_LOG_DIR \
  QS_ACCESS_LOG QS_STATUS_URL_PATH QS_ACTIVITY_URL_PATH QS_ACTIVITY_SOCKET QS_HF_CACHE QS_HF_CACHE_MOUNT \
  QS_OLLAMA_CACHE QS_OLLAMA_CACHE_MOUNT QS_ENGINE_CACHE QS_ENGINE_CACHE_MOUNT QS_ENGINE_CACHE_ENV \
  ENGINE_ULIMITS ENGINE_LOG_MAX_SIZE ENGINE_LOG_MAX_FILES IDLE_GRACE_MINUTES; do
  if [ -z "${!fact:-}" ]; then
    echo "qwen3-serve: $fact is missing from $QS_LIB/machine.env" >&2
    exit 2
  fi
done

# Every absolute path hangs off QS_ROOT so the sandbox tests can run the real scripts in a temp dir.
QS_ROOT="${QS_ROOT:-}"
# The scripts that source this file use these paths.
# shellcheck disable=SC2034
{
  CONF_DIR="$QS_ROOT$QS_CONF_DIR"
  SECRETS_DIR="$QS_ROOT/run/qwen3-serve/secrets" # /run is tmpfs: empty at each boot, so no image or snapshot holds a key
  ENGINE_ARGV_FILE="$QS_ROOT$QS_ENGINE_ARGV"
  ENGINE_ENV_FILE="$QS_ROOT$QS_ENGINE_ENV"
  STATE_DIR="$QS_ROOT$QS_STATE_DIR"
  LOG_DIR="$QS_ROOT$QS_LOG_DIR"
  ACCESS_LOG="$QS_ROOT$QS_ACCESS_LOG"
  HF_CACHE="$QS_ROOT$QS_HF_CACHE"
  OLLAMA_CACHE="$QS_ROOT$QS_OLLAMA_CACHE"
  ENGINE_CACHE="$QS_ROOT$QS_ENGINE_CACHE"
  SYSTEMD_DIR="$QS_ROOT/etc/systemd/system"
  NGINX_CONF_DIR="$QS_ROOT/etc/nginx/conf.d"
  STATUS_FILE="$QS_ROOT$QS_STATUS_FILE"
  ERROR_FILE="$STATE_DIR/.last-error"
}
QS_ENV_FILE="${QS_ENV_FILE:-$QS_ROOT$QS_BOOTSTRAP_ENV}"
QS_PHASE="${QS_PHASE:-bootstrap}"

# Read the root-only env file the caller wrote. It holds settings and secret *locations*, never secrets.
load_env() {
  local file="${1:-$QS_ENV_FILE}"
  if [ ! -r "$file" ]; then
    echo "qwen3-serve: missing $file" >&2
    exit 2
  fi
  # shellcheck disable=SC1090
  . "$file"
}

log() {
  printf 'qwen3-serve[%s]: %s\n' "$QS_PHASE" "$*"
}

# Record why this step failed, for the status file, and stop the step.
fail() {
  mkdir -p "$STATE_DIR"
  printf '%s' "$*" >"$ERROR_FILE"
  log "FAILED: $*"
  exit 1
}

# Merge updates into status.json atomically. Args: an operation and its arguments (see status.py).
status() {
  mkdir -p "$STATE_DIR"
  python3 "$QS_LIB/status.py" "$STATUS_FILE" "$@"
}

# Run a command until it succeeds: attempts with exponential backoff (RETRY_ATTEMPTS, RETRY_BASE_SECONDS).
retry() {
  local attempts="${RETRY_ATTEMPTS:-5}" delay="${RETRY_BASE_SECONDS:-10}" n=1
  while true; do
    if "$@"; then return 0; fi
    if [ "$n" -ge "$attempts" ]; then return 1; fi
    log "attempt $n/$attempts failed; retrying in ${delay}s"
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2))
  done
}

# Write stdin to a file only when the content differs. Returns 0 when it changed, 1 when not.
write_if_changed() {
  local path="$1" mode="$2" tmp
  mkdir -p "$(dirname "$path")"
  tmp="$(mktemp "$path.XXXXXX")"
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 1
  fi
  mv -f "$tmp" "$path"
  return 0
}

# HTTP status of a request to the local proxy or engine; "000" when nothing answers.
http_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time "${HTTP_TIMEOUT_SECONDS:-10}" "$@" || true
}

# Fill a template's @NAME@ tokens from TPL_NAME variables; a token without a value is an error.
render_template() {
  python3 - "$1" <<'PY'
import os, re, sys
text = open(sys.argv[1], encoding="utf-8").read()
def value(m):
    v = os.environ.get("TPL_" + m.group(1))
    if v is None:
        sys.exit(f"template {sys.argv[1]}: no value for @{m.group(1)}@")
    return v
sys.stdout.write(re.sub(r"@([A-Z_]+)@", value, text))
PY
}

# The Authorization header file, so the key never appears on a command line.
auth_header_file() {
  printf '%s' "$SECRETS_DIR/auth-header"
}

# apt-get that waits for the dpkg lock instead of failing: on a first boot of plain Ubuntu,
# unattended-upgrades holds it for minutes. DPkg::Lock::Timeout (seconds) is apt's own option,
# in apt since 1.9.11 (Ubuntu 20.04 and later); the callers' retry covers a lists lock held longer.
apt_get() {
  apt-get -o "DPkg::Lock::Timeout=${APT_LOCK_TIMEOUT_SECONDS:-900}" "$@"
}

# Finish a dpkg run a reboot or power loss cut short: until then apt refuses every command with
# "dpkg was interrupted, you must manually run 'dpkg --configure -a'". apt tells from pending
# journal files in /var/lib/dpkg/updates, so do we. dpkg cannot wait for the lock, hence the retry.
dpkg_recover() {
  local updates="$QS_ROOT/var/lib/dpkg/updates"
  [ -d "$updates" ] && [ -n "$(ls -A "$updates" 2>/dev/null)" ] || return 0
  log "finishing an interrupted dpkg run (dpkg --configure -a)"
  DEBIAN_FRONTEND=noninteractive retry dpkg --force-confdef --force-confold --configure -a ||
    fail "dpkg was interrupted and 'dpkg --configure -a' did not finish it; run it by hand and look at its output"
}

# The image reference to pull and run: the pinned digest when the stack pins one, so what runs is
# exactly what was checked (repo:tag@sha256:... resolves by the digest; the tag is informative).
engine_image_ref() {
  if [ -n "${ENGINE_IMAGE_DIGEST:-}" ]; then
    printf '%s@%s' "$ENGINE_IMAGE" "$ENGINE_IMAGE_DIGEST"
  else
    printf '%s' "$ENGINE_IMAGE"
  fi
}

# The engine unit's last log lines (its container's stdout and stderr go to the journal).
engine_log_tail() {
  journalctl -u qwen3-serve-engine.service -n "${1:-20}" --no-pager -o cat 2>/dev/null || true
}

# The AWS CLI as words, one a line: the host's when present (the Deep Learning AMI ships it), else its
# pinned image on the host network, the one container that needs the instance role (through IMDS).
# Folders named in AWS_CLI_DIRS are mounted at their own paths, so file arguments mean the same inside.
aws_cli_words() {
  if command -v aws >/dev/null 2>&1; then
    printf 'aws\n'
    return
  fi
  printf '%s\n' docker run --rm --network host
  local dir
  for dir in ${AWS_CLI_DIRS:-}; do printf '%s\n' -v "$dir:$dir"; done
  printf '%s\n' "$AWS_CLI_IMAGE"
}

aws_cli() {
  local words
  mapfile -t words < <(aws_cli_words)
  "${words[@]}" "$@"
}
