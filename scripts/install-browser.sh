#!/usr/bin/env bash
# Installs the headless browser the dashboard's tests drive: Debian's chromium and chromium-driver
# (/usr/bin/chromium, /usr/bin/chromedriver), once. Needs root (or sudo) on a machine that reaches
# the Debian mirrors; does nothing where both are already installed. BUENDEL_CHROMIUM and
# BUENDEL_CHROMEDRIVER point the tests at other binaries instead.
set -euo pipefail
chromium=${BUENDEL_CHROMIUM:-/usr/bin/chromium}
driver=${BUENDEL_CHROMEDRIVER:-/usr/bin/chromedriver}
if [[ -x "$chromium" && -x "$driver" ]]; then
    exit 0
fi
echo "==> installing chromium and chromium-driver (apt)"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
"$chromium" --version
"$driver" --version
