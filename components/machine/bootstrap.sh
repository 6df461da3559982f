#!/usr/bin/env bash
# qwen3-serve machine bootstrap. Brings a GPU host from bare (plain Ubuntu 22.04/24.04 or the AWS
# Deep Learning AMI) to an authenticated OpenAI-compatible endpoint serving the planned model.
#
# Idempotent: each phase checks before it acts, so a second run changes and downloads nothing.
# Progress goes to $STATUS_FILE (one JSON document) and one log line per phase.
# Runs as root from qwen3-serve-bootstrap.service, which also resumes it after a driver reboot.
set -euo pipefail
# Files are world-readable unless a step says otherwise (secrets set 0600 themselves): nginx's
# workers must reach the status file, whatever umask the caller ran with.
umask 022

QS_LIB="${QS_LIB:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
# shellcheck source=lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"
export QS_ROOT QS_LIB QS_ENV_FILE

PHASES=(driver runtime secrets engine proxy weights load first-token)

mkdir -p "$STATE_DIR" "$LOG_DIR"

install_self() {
  # The unit that re-runs this script at every boot: resumes after the driver reboot, and re-checks
  # the endpoint after any reboot. The engine and proxy units restart on their own.
  write_if_changed "$SYSTEMD_DIR/qwen3-serve-bootstrap.service" 0644 <<UNIT || return 0
[Unit]
Description=qwen3-serve bootstrap (driver, engine, weights, proxy, readiness)
Wants=network-online.target
After=network-online.target docker.service

[Service]
Type=oneshot
ExecStart=$QS_LIB/bootstrap.sh
TimeoutStartSec=infinity
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
UNIT
  systemctl daemon-reload
  systemctl enable qwen3-serve-bootstrap.service >/dev/null
}

# The idle watchdog: a timer that runs one check a minute, from boot on, before the long phases,
# so a TTL holds even while weights download. The check itself never counts loading as idle.
install_watchdog() {
  local changed=0
  write_if_changed "$SYSTEMD_DIR/qwen3-serve-idle.service" 0644 <<UNIT && changed=1
[Unit]
Description=qwen3-serve idle watchdog: one check (stop when nobody sends inference requests)

[Service]
Type=oneshot
ExecStart=$QS_LIB/idle.sh
UNIT
  write_if_changed "$SYSTEMD_DIR/qwen3-serve-idle.timer" 0644 <<UNIT && changed=1
[Unit]
Description=qwen3-serve idle watchdog, every minute

[Timer]
OnBootSec=1min
OnUnitActiveSec=1min
AccuracySec=1s

[Install]
WantedBy=timers.target
UNIT
  if [ "$changed" = 1 ]; then
    systemctl daemon-reload
    systemctl enable --now qwen3-serve-idle.timer >/dev/null
  fi
}

# cloud-init calls `bootstrap.sh --background`: hand the run to systemd and return at once, so
# cloud-init finishes while the bootstrap (and any driver reboot) carries on under the unit.
if [ "${1:-}" = "--background" ]; then
  install_self
  systemctl start --no-block qwen3-serve-bootstrap.service
  exit 0
fi

# One bootstrap at a time: a boot-time run and a caller-triggered run must not interleave.
exec 9>"$STATE_DIR/bootstrap.lock"
if ! flock -w "${LOCK_WAIT_SECONDS:-3600}" 9; then
  echo "qwen3-serve: another bootstrap holds $STATE_DIR/bootstrap.lock" >&2
  exit 1
fi

status init
install_self
install_watchdog
QS_PHASE=bootstrap log "run $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"])' "$STATUS_FILE") started for ${SERVED_MODEL} on ${ENGINE}"

for phase in "${PHASES[@]}"; do
  rm -f "$ERROR_FILE"
  status phase-start "$phase"
  QS_PHASE="$phase" log "started"
  started=$SECONDS
  set +e
  QS_PHASE="$phase" bash "$QS_LIB/steps/$phase.sh"
  rc=$?
  set -e
  took=$((SECONDS - started))
  case "$rc" in
    0)
      status phase-end "$phase" "done"
      QS_PHASE="$phase" log "done in ${took}s"
      ;;
    20)
      status phase-end "$phase" skipped
      QS_PHASE="$phase" log "already in place (${took}s)"
      ;;
    10)
      status phase-end "$phase" rebooting
      QS_PHASE="$phase" log "rebooting to load the NVIDIA driver; this unit resumes after boot"
      systemctl reboot
      exit 0
      ;;
    *)
      reason="step exited with status $rc"
      if [ -s "$ERROR_FILE" ]; then reason="$(cat "$ERROR_FILE")"; fi
      status phase-end "$phase" failed "$reason"
      status fail "$phase" "$reason"
      QS_PHASE="$phase" log "FAILED after ${took}s: $reason"
      exit 1
      ;;
  esac
done

status ready
QS_PHASE=bootstrap log "ready: ${SERVED_MODEL} answers on port ${PROXY_PORT}"
