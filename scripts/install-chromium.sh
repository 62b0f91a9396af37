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
exec bash "$(dirname "$0")/apt-install.sh" \
  "install-chromium.sh: no apt-get here; install Chromium and chromedriver yourself (${PKGS[*]}), or point TEXTRNN_CHROMIUM / TEXTRNN_CHROMEDRIVER at them" \
  "${PKGS[@]}"
