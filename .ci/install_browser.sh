#!/usr/bin/env bash
# Install Debian's chromium for the Playwright browser test (tests/test_browser.py).
# Playwright's own browser download needs the internet; the test drives this system
# chromium through executable_path instead. Idempotent; needs root (CI runs as root).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    echo "chromium already installed: $(chromium --version 2>/dev/null || true)"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# chromium: the browser; fonts-noto-color-emoji: emoji in the UI render in screenshots
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-noto-color-emoji >/dev/null
echo "installed: $(chromium --version)"
