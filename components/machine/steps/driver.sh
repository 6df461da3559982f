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
      # NVSwitch machines also need the fabric manager of the same branch; B200's NVLink subnet
      # manager (nvlsm) has no Ubuntu archive package to pin, so those need the Deep Learning AMI.
      case "${FABRIC_MANAGER:-}" in
        *nvlsm*)
          fail "this instance type needs NVIDIA's NVLink subnet manager (nvlsm), which the bootstrap cannot install" \
            "on plain Ubuntu; use the Deep Learning AMI"
          ;;
      esac
      pkgs=("linux-headers-$(uname -r)" "nvidia-headless-${DRIVER_BRANCH}-server-open" "nvidia-utils-${DRIVER_BRANCH}-server")
      [ -n "${FABRIC_MANAGER:-}" ] && pkgs+=("nvidia-fabricmanager-${DRIVER_BRANCH}")
      log "no working NVIDIA driver (nvidia-smi: ${gpus}); installing ${pkgs[*]:1}"
      export DEBIAN_FRONTEND=noninteractive
      dpkg_recover
      retry apt_get update -q || fail "apt-get update failed while installing the NVIDIA driver"
      # DKMS builds the open module against the running kernel, so its headers come first.
      retry apt_get install -y -q --no-install-recommends "${pkgs[@]}" ||
        fail "apt-get could not install ${pkgs[*]:1}"
      # The fabric manager starts at the next boot, once the driver it matches is loaded.
      if [ -n "${FABRIC_MANAGER:-}" ]; then systemctl enable nvidia-fabricmanager.service >/dev/null; fi
      touch "$STATE_DIR/driver-installed"
      exit 10
      ;;
    *)
      fail "no working NVIDIA driver (nvidia-smi: ${gpus}). Use the Deep Learning AMI, install the driver," \
        "or let the bootstrap install it (driver policy: install)"
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

# The pinned images bring their own CUDA user space; the host driver must be new enough for it.
branch="${driver%%.*}"
if [ "${branch:-0}" -lt "${MIN_DRIVER_BRANCH:-0}" ] 2>/dev/null; then
  fail "NVIDIA driver ${driver} is too old for ${ENGINE_IMAGE}: it needs branch ${MIN_DRIVER_BRANCH} or later" \
    "(${MIN_DRIVER_REASON:-}). Upgrade the driver or use the Deep Learning AMI"
fi

# Without a running fabric manager an NVSwitch machine's nvidia-smi works but CUDA fails (error 802).
if [ -n "${FABRIC_MANAGER:-}" ] && ! systemctl is-active --quiet nvidia-fabricmanager.service; then
  systemctl enable --now nvidia-fabricmanager.service >/dev/null 2>&1 ||
    fail "this NVSwitch machine needs nvidia-fabricmanager-${branch} running (driver ${driver}), and it did not start; install it or use the Deep Learning AMI"
fi

if [ "$count" -lt "${EXPECT_GPU_COUNT:-1}" ]; then
  fail "the plan needs ${EXPECT_GPU_COUNT} GPUs; this machine has ${count} (${name})"
fi
if [ "$smallest" -lt "${EXPECT_GPU_MEMORY_MIB:-0}" ]; then
  fail "the plan needs ${EXPECT_GPU_MEMORY_MIB} MiB per GPU; the smallest GPU here has ${smallest} MiB (${name})"
fi
log "${count} x ${name}, ${smallest} MiB each, driver ${driver}"
[ "$installed" = 1 ] && [ ! -f "$STATE_DIR/driver-checked" ] && touch "$STATE_DIR/driver-checked" && exit 0
exit 20
