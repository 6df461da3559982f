#!/bin/sh
# The Docker target's proxy entry: bounds nginx's access log, which the idle watchdog sidecar reads
# from the shared logs volume, then runs nginx. The nginx image has no logrotate, so a background
# loop does what the machines' logrotate rule does: past the size cap, copy the log to
# access.log.1 (replacing the previous one) and truncate it in place. nginx opens its logs with
# O_APPEND, so its next line lands at the start of the emptied file (copytruncate), and the
# watchdog rereads a log that got shorter. At most two files of the cap stay on disk.
# POSIX sh: it runs under the nginx:alpine image's busybox.
set -eu

log="${QS_ACCESS_LOG:?QS_ACCESS_LOG must name the access log}"
max_bytes="${QS_ACCESS_LOG_MAX_BYTES:-52428800}"
every="${QS_ACCESS_LOG_CHECK_SECONDS:-60}"

cap() {
  [ -f "$log" ] || return 0
  size="$(wc -c <"$log" | tr -d ' ')"
  [ "$size" -gt "$max_bytes" ] || return 0
  cp "$log" "$log.1.tmp"
  mv -f "$log.1.tmp" "$log.1"
  : >"$log"
}

(
  while sleep "$every"; do
    cap || echo "qwen3-serve: could not cap $log" >&2
  done
) &

exec "$@"
