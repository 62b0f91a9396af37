#!/usr/bin/env bash
# Chromium and its WebDriver from Debian's packages, for the page test of `textrnn serve`
# (tests/test_page.py drives /usr/bin/chromium through /usr/bin/chromedriver with
# Selenium; a browser build downloaded at install time would not work on CI).
# Skipped when both are already there.
set -euo pipefail
PKGS=(chromium chromium-driver)
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null; then
  echo "install-chromium.sh: no apt-get here; install Chromium and chromedriver yourself" \
       "(${PKGS[*]}), or point TEXTRNN_CHROMIUM / TEXTRNN_CHROMEDRIVER at them" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" != 0 ]; then SUDO=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${PKGS[@]}"
