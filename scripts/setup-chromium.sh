#!/usr/bin/env bash
# Install Debian's Chromium for the screenshot test, if it is missing. Needs root or
# sudo (CI runs as root); elsewhere it says what to run and the test skips.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO="sudo"
else
  echo "setup: chromium not found; install it with 'apt-get install chromium' for the screenshot test" >&2
  exit 0
fi
echo "setup: installing chromium (Debian package)"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
