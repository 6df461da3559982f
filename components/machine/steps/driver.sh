#!/usr/bin/env bash
# Phase driver: find the NVIDIA GPUs and driver. The Deep Learning AMI and prepared workstations
# already have one. On plain Ubuntu (DRIVER_POLICY=install) install the headless server driver
# with open kernel modules (Turing and newer) and ask for a reboot; the boot unit resumes after it.
# Then check the GPUs can hold what the plan sized.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"

query() {
  nvidia-smi --query-gpu=name,memory.total,compute_cap,driver_version --format=csv,noheader,nounits 2>&1
}

installed=0
if ! gpus="$(query)"; then
  case "${DRIVER_POLICY:-require}" in
    install)
      if [ -f "$STATE_DIR/driver-installed" ]; then
        fail "the NVIDIA driver was installed and the machine rebooted, but nvidia-smi still fails: ${gpus}"
      fi
      log "no working NVIDIA driver (nvidia-smi: ${gpus}); installing nvidia-headless-${DRIVER_BRANCH}-server-open"
      export DEBIAN_FRONTEND=noninteractive
      retry apt-get update -q || fail "apt-get update failed while installing the NVIDIA driver"
      # DKMS builds the open module against the running kernel, so its headers come first.
      retry apt-get install -y -q --no-install-recommends "linux-headers-$(uname -r)" \
        "nvidia-headless-${DRIVER_BRANCH}-server-open" "nvidia-utils-${DRIVER_BRANCH}-server" ||
        fail "apt-get could not install nvidia-headless-${DRIVER_BRANCH}-server-open"
      touch "$STATE_DIR/driver-installed"
      exit 10
      ;;
    *)
      fail "no working NVIDIA driver (nvidia-smi: ${gpus}). Use the Deep Learning AMI, install the driver, or let the bootstrap install it (driver policy: install)"
      ;;
  esac
fi
[ -f "$STATE_DIR/driver-installed" ] && installed=1

count="$(printf '%s\n' "$gpus" | grep -c .)"
smallest="$(printf '%s\n' "$gpus" | awk -F', *' '{print int($2)}' | sort -n | head -n 1)"
name="$(printf '%s\n' "$gpus" | head -n 1 | awk -F', *' '{print $1}')"
driver="$(printf '%s\n' "$gpus" | head -n 1 | awk -F', *' '{print $4}')"
status set machine.gpus "${count} x ${name} (${smallest} MiB)"
status set versions.driver "$driver"

if [ "$count" -lt "${EXPECT_GPU_COUNT:-1}" ]; then
  fail "the plan needs ${EXPECT_GPU_COUNT} GPUs; this machine has ${count} (${name})"
fi
if [ "$smallest" -lt "${EXPECT_GPU_MEMORY_MIB:-0}" ]; then
  fail "the plan needs ${EXPECT_GPU_MEMORY_MIB} MiB per GPU; the smallest GPU here has ${smallest} MiB (${name})"
fi
log "${count} x ${name}, ${smallest} MiB each, driver ${driver}"
[ "$installed" = 1 ] && [ ! -f "$STATE_DIR/driver-checked" ] && touch "$STATE_DIR/driver-checked" && exit 0
exit 20
