#!/usr/bin/env bash
# Phase runtime: Docker and the NVIDIA Container Toolkit, so engines run as pinned images with GPUs.
# The Deep Learning AMI ships both; plain Ubuntu gets docker.io from the archive and the toolkit,
# at a pinned version, from NVIDIA's apt repository.
set -euo pipefail
# shellcheck source=../lib.sh
. "$QS_LIB/lib.sh"
load_env "$QS_ENV_FILE"
export DEBIAN_FRONTEND=noninteractive

changed=0
updated=0
apt_update_once() {
  [ "$updated" = 1 ] && return 0
  dpkg_recover
  retry apt_get update -q || fail "apt-get update failed"
  updated=1
}

if ! command -v docker >/dev/null 2>&1; then
  log "installing docker.io"
  apt_update_once
  retry apt_get install -y -q --no-install-recommends docker.io || fail "apt-get could not install docker.io"
  changed=1
fi

if ! command -v nvidia-ctk >/dev/null 2>&1; then
  log "installing the NVIDIA Container Toolkit ${NCT_VERSION}"
  keyring="$QS_ROOT/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg"
  mkdir -p "$(dirname "$keyring")" "$QS_ROOT/etc/apt/sources.list.d"
  retry curl -fsSL -o "$STATE_DIR/nct.gpgkey" https://nvidia.github.io/libnvidia-container/gpgkey || fail "could not fetch NVIDIA's apt key"
  gpg --batch --yes --dearmor -o "$keyring" "$STATE_DIR/nct.gpgkey"
  # shellcheck disable=SC2016 # $(ARCH) is apt's own variable
  printf 'deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.gpg] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n' \
    >"$QS_ROOT/etc/apt/sources.list.d/nvidia-container-toolkit.list"
  updated=0
  apt_update_once
  retry apt_get install -y -q --no-install-recommends \
    "nvidia-container-toolkit=${NCT_VERSION}" "nvidia-container-toolkit-base=${NCT_VERSION}" \
    "libnvidia-container-tools=${NCT_VERSION}" "libnvidia-container1=${NCT_VERSION}" ||
    fail "apt-get could not install nvidia-container-toolkit ${NCT_VERSION}"
  changed=1
fi

if ! docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"nvidia"'; then
  log "registering the nvidia runtime with Docker"
  nvidia-ctk runtime configure --runtime=docker || fail "nvidia-ctk could not configure Docker"
  systemctl restart docker
  changed=1
fi
if ! systemctl is-active --quiet docker; then
  systemctl enable --now docker
  changed=1
fi

status set versions.docker "$(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown)"
status set versions.nvidiaContainerToolkit "$(nvidia-ctk --version 2>/dev/null | head -n 1 || echo unknown)"
[ "$changed" = 1 ] || exit 20
