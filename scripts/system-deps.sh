#!/usr/bin/env bash
# Makes sure the system packages the tests use are present: qemu-img (qemu-utils),
# Debian's OpenStack tools (python3-openstackclient, python3-glanceclient, python3-openstacksdk),
# strace (the proof that processing hostile images opens no host file) and Debian's chromium,
# which the web console's browser tests drive with playwright-core.
# As root they are installed with apt-get; otherwise this prints the one command to run.
set -euo pipefail
need=()
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
[ -x /usr/bin/openstack ] || need+=(python3-openstackclient)
[ -x /usr/bin/glance ] || need+=(python3-glanceclient)
command -v strace >/dev/null 2>&1 || need+=(strace)
/usr/bin/python3 -c 'import openstack' 2>/dev/null || need+=(python3-openstacksdk)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "ims tests need system packages; run: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing ${need[*]} with apt-get..." >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
