#!/usr/bin/env bash
# Phase engine: pull the pinned engine image and write the engine's systemd unit. The unit is
# started later (weights first), except for Ollama, which pulls its weights through the server.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"

changed=0
# A pinned digest is pulled and run by digest (as the Docker target does), so a moved tag can
# neither change what runs nor fail the check below.
image="$(engine_image_ref)"
if ! docker image inspect "$image" >/dev/null 2>&1; then
  log "pulling $image"
  retry docker pull "$image" || fail "could not pull $image"
  changed=1
fi
digest="$(docker image inspect --format '{{index .RepoDigests 0}}' "$image" 2>/dev/null || true)"
if [ -n "${ENGINE_IMAGE_DIGEST:-}" ] && [ "${digest##*@}" != "$ENGINE_IMAGE_DIGEST" ]; then
  fail "$image resolved to ${digest##*@}, but the stack pins $ENGINE_IMAGE_DIGEST"
fi
status set versions.engineImage "$ENGINE_IMAGE"
status set versions.engineImageDigest "${digest:-unknown}"

write_if_changed "$SYSTEMD_DIR/qwen3-serve-engine.service" 0644 <<UNIT && changed=1
[Unit]
Description=qwen3-serve engine (${ENGINE}, ${SERVED_MODEL})
Requires=docker.service
After=docker.service network-online.target

[Service]
ExecStart=$QS_LIB/run-engine.sh
ExecStop=-/usr/bin/docker stop --time 30 qwen3-serve-engine
Restart=always
RestartSec=5
TimeoutStartSec=0

[Install]
WantedBy=multi-user.target
UNIT

if [ "$changed" = 1 ]; then
  systemctl daemon-reload
  systemctl enable qwen3-serve-engine.service >/dev/null
  exit 0
fi
exit 20
