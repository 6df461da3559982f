#!/usr/bin/env bash
# Removes what the bootstrap installed on a machine we do not own (the workstation target's
# `pulumi destroy`): stops and removes the units, the engine container, the proxy config, the
# scripts, config and secrets. Downloaded weights stay in the cache unless --purge-weights.
# Docker, nginx itself and the NVIDIA driver stay: the owner may use them for other things.
# Idempotent: a second run finds nothing to remove.
set -euo pipefail

QS_LIB="${QS_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
# shellcheck source=lib.sh
. "$QS_LIB/lib.sh"

purge=0
if [ "${1:-}" = "--purge-weights" ]; then purge=1; fi

# The watchdog first, so it cannot act on a half-removed install.
for unit in qwen3-serve-idle.timer qwen3-serve-idle.service qwen3-serve-bootstrap.service qwen3-serve-engine.service; do
  systemctl disable --now "$unit" >/dev/null 2>&1 || true
  rm -f "$SYSTEMD_DIR/$unit"
done
docker rm -f qwen3-serve-engine >/dev/null 2>&1 || true

rm -f "$NGINX_CONF_DIR/qwen3-serve.conf" "$NGINX_CONF_DIR/qwen3-serve-acme.conf" "$QS_ROOT/etc/logrotate.d/qwen3-serve"
rm -rf "$SYSTEMD_DIR/nginx.service.d/qwen3-serve.conf"
systemctl daemon-reload
if systemctl is-active --quiet nginx; then systemctl reload nginx || true; fi

# The secrets and the engine's S3 credentials live on tmpfs (lib.sh), gone at the next boot; gone now too.
rm -rf "$CONF_DIR" "$LOG_DIR" "$(dirname "$SECRETS_DIR")"
if [ "$purge" = 1 ]; then
  rm -rf "$STATE_DIR"
  echo "qwen3-serve: removed, weights included"
else
  # Keep the caches (folders of the state folder); drop the run state so a later install starts a fresh cold start.
  hf_cache="$(basename "$HF_CACHE")" ollama_cache="$(basename "$OLLAMA_CACHE")"
  find "$STATE_DIR" -mindepth 1 -maxdepth 1 ! -name "$hf_cache" ! -name "$ollama_cache" -exec rm -rf {} + 2>/dev/null || true
  echo "qwen3-serve: removed; weights kept in $STATE_DIR ($hf_cache, $ollama_cache)"
fi
# Last, the scripts themselves (this one included: bash has already read it).
rm -rf "$QS_LIB"
