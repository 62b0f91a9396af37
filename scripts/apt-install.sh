#!/usr/bin/env bash
# Install Debian packages with apt-get, through sudo when not root. Shared by the
# install-*.sh scripts; without apt-get, prints the caller's advice and fails.
#   apt-install.sh "ADVICE WHEN THERE IS NO APT-GET" PKG...
set -euo pipefail
advice=$1; shift
if ! command -v apt-get >/dev/null; then
  echo "$advice" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" != 0 ]; then SUDO=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "$@"
