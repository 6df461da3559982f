#!/usr/bin/env bash
# Install the Debian packages the tests run for real, only those missing, so the README's test
# command passes on a fresh Debian or Ubuntu machine that has only Node and apt. `.ci/run` runs
# the same command. The tests fail without these rather than skip:
# - shellcheck lints every shell script;
# - nginx is the real auth proxy in the bootstrap sandbox (401 without the key, 200 with it);
# - cloud-init validates rendered user data with `cloud-init schema`;
# - python3 and curl are what the machine scripts themselves use;
# - openssl makes the stand-in certificate for the TLS proxy test;
# - openssh-server and openssh-client carry the workstation target's real SSH flow on loopback.
set -euo pipefail

packages=(shellcheck nginx cloud-init python3 curl openssl openssh-server openssh-client)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "test tools: all ${#packages[@]} Debian packages already installed"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
echo "test tools: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update
"${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
