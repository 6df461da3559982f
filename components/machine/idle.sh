#!/usr/bin/env bash
# qwen3-serve-idle.service: one idle-watchdog check with the bootstrap's settings (see idle.py).
set -euo pipefail
QS_LIB="${QS_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
# shellcheck source=lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"
# The plan's settings; idle.py reads the machine facts (paths, grace period) from machine.env beside it.
export QS_ROOT ENGINE ENGINE_PORT IDLE_SETTINGS IDLE_MINUTES TTL_HOURS IDLE_COUNT_SSH IDLE_ACTION IDLE_LOADING_MAX_SECONDS
# A fleet replica's settings (absent on a single machine: exported unset, so not in idle.py's environment).
export FLEET_ASG_NAME FLEET_REGION FLEET_METRIC_NAMESPACE FLEET_QUEUE_METRIC FLEET_PUBLISH_QUEUE
# On AWS the secrets phase installs idle.py (it comes from SSM, not the user data); the timer
# starts at boot, before that, so until then a check is a no-op rather than a failed unit.
if [ ! -f "$QS_LIB/idle.py" ]; then
  QS_PHASE=idle log "watchdog not installed yet (the secrets phase installs idle.py)"
  exit 0
fi
exec python3 "$QS_LIB/idle.py" check
