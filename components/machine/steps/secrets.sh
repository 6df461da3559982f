#!/usr/bin/env bash
# Phase secrets: fetch the API key (required) and Hugging Face token (optional) from where the
# target keeps them, into root-only files. Values pass through files and pipes only, never through
# a command line, the env file or a log line. On AWS it also fetches the idle watchdog (idle.py),
# which does not fit in EC2's 16 KiB of user data, from SSM and checks it against its hash.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"

mkdir -p "$SECRETS_DIR"
chmod 0700 "$SECRETS_DIR"
umask 077
tmp="$(mktemp -d "$SECRETS_DIR/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# AWS SSM Parameter Store SecureString, read with the instance role (lib.sh aws_cli: the host's CLI
# or its pinned image).
ssm_get() {
  aws_cli ssm get-parameter --region "$AWS_REGION" --with-decryption --name "$1" --query Parameter.Value --output text >"$2"
}

# idle.py as the AWS target stores it: String parameters (--with-decryption is "ignored for String
# and StringList parameter types", SSM API GetParameter WithDecryption, read 2026-11-30) whose
# values, joined in order, are the base64 of the gzipped script. A corrupt or stale part shows as
# a hash that is not IDLE_PY_SHA256, which comes with this machine's user data.
fetch_idle_py() {
  local name got
  : >"$tmp/idle.b64"
  for name in $SSM_IDLE_PY_PARAMS; do
    retry ssm_get "$name" "$tmp/idle.part" || fail "could not read SSM parameter $name (check the instance role and region $AWS_REGION)"
    tr -d '\r\n' <"$tmp/idle.part" >>"$tmp/idle.b64"
  done
  { base64 -d <"$tmp/idle.b64" | gunzip; } >"$tmp/idle.py" 2>/dev/null || true
  got="$(sha256sum <"$tmp/idle.py" | cut -d ' ' -f 1)"
  [ "$got" = "$IDLE_PY_SHA256" ] ||
    fail "idle.py assembled from SSM parameters $SSM_IDLE_PY_PARAMS has sha256 $got, not IDLE_PY_SHA256 $IDLE_PY_SHA256:" \
      "they do not hold the watchdog this machine was launched with; run pulumi up again"
  # With the weights mirror the parameters hold a JSON bundle (assets.ts deferredPayload): idle.py and
  # the mirror's scripts, which do not fit in the user data beside the rest.
  if [ "$(head -c 1 "$tmp/idle.py")" = "{" ]; then
    python3 - "$tmp/idle.py" "$tmp" <<'PY'
import json, sys
files = json.load(open(sys.argv[1]))["files"]
for name in ("idle.py", "mirror.py", "mirror.sh"):
    with open(f"{sys.argv[2]}/deferred-{name}", "w", encoding="utf-8") as f:
        f.write(files[name])
PY
  else
    mv "$tmp/idle.py" "$tmp/deferred-idle.py"
  fi
}

case "${SECRETS_SOURCE:?SECRETS_SOURCE must be ssm or file}" in
  ssm)
    retry ssm_get "$SSM_API_KEY_PARAM" "$tmp/api_key" || fail "could not read SSM parameter $SSM_API_KEY_PARAM (check the instance role and region $AWS_REGION)"
    if [ -n "${SSM_HF_TOKEN_PARAM:-}" ]; then
      retry ssm_get "$SSM_HF_TOKEN_PARAM" "$tmp/hf_token" || fail "could not read SSM parameter $SSM_HF_TOKEN_PARAM"
    fi
    if [ -n "${SSM_IDLE_PY_PARAMS:-}" ]; then fetch_idle_py; fi
    ;;
  file)
    # KEY=VALUE lines written by the caller with mode 0600: API_KEY=..., optional HF_TOKEN=...
    secrets_file="$QS_ROOT$SECRETS_FILE"
    [ -r "$secrets_file" ] || fail "secrets file $secrets_file is missing"
    perms="$(stat -c '%a' "$secrets_file")"
    [ "$perms" = 600 ] || [ "$perms" = 400 ] || fail "secrets file $secrets_file has mode $perms; it must be 0600"
    sed -n 's/^API_KEY=//p' "$secrets_file" | head -n 1 >"$tmp/api_key"
    sed -n 's/^HF_TOKEN=//p' "$secrets_file" | head -n 1 >"$tmp/hf_token"
    ;;
  *) fail "SECRETS_SOURCE must be ssm or file, not ${SECRETS_SOURCE}" ;;
esac

tr -d '\r\n' <"$tmp/api_key" >"$tmp/api_key.clean"
key_len="$(wc -c <"$tmp/api_key.clean")"
[ "$key_len" -ge 16 ] || fail "the API key is missing or shorter than 16 characters"
# The key goes into an nginx map and an HTTP header, so keep it to header-safe token characters.
if LC_ALL=C grep -q '[^A-Za-z0-9._~+/=-]' "$tmp/api_key.clean"; then
  fail "the API key may only contain letters, digits and . _ ~ + / = -"
fi

changed=0
{ printf 'Authorization: Bearer '; cat "$tmp/api_key.clean"; printf '\n'; } | write_if_changed "$(auth_header_file)" 0600 && changed=1
# The key reaches the template through this one process's environment, never a command line;
# the map matches it as a regular expression, so its "." and "+" are escaped.
TPL_API_KEY="$(sed 's/[.+]/\\&/g' "$tmp/api_key.clean")" render_template "$QS_LIB/proxy-auth.conf" |
  write_if_changed "$SECRETS_DIR/proxy-auth.conf" 0600 && changed=1

if [ -s "$tmp/hf_token" ]; then
  { printf 'HF_TOKEN='; tr -d '\r\n' <"$tmp/hf_token"; printf '\n'; } | write_if_changed "$SECRETS_DIR/hf.env" 0600 && changed=1
else
  : | write_if_changed "$SECRETS_DIR/hf.env" 0600 && changed=1
fi

for name in idle.py mirror.py mirror.sh; do
  if [ -s "$tmp/deferred-$name" ]; then
    write_if_changed "$QS_LIB/$name" 0755 <"$tmp/deferred-$name" && changed=1
  fi
done

[ "$changed" = 1 ] || exit 20
log "secrets in place under $SECRETS_DIR (root only)"
