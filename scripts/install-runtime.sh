#!/bin/sh
# The runtime half of the Docker image, as a script so it is proven outside Docker too (a test
# runs it): Chromium, chromedriver, CA certificates, fonts, curl (for the HEALTHCHECK), an
# unprivileged user and its data directory. Idempotent.
#
#   WAGATE_USER (default wagate), WAGATE_DATA (default /data)
set -eu

user="${WAGATE_USER:-wagate}"
data="${WAGATE_DATA:-/data}"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

need=""
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v chromedriver >/dev/null 2>&1 || need="$need chromium-driver"
command -v curl >/dev/null 2>&1 || need="$need curl"
[ -e /etc/ssl/certs/ca-certificates.crt ] || need="$need ca-certificates"
fc-list 2>/dev/null | grep -qi "dejavu" || need="$need fonts-dejavu-core"
if [ -n "$need" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need
  # An image keeps no package lists.
  [ -n "${WAGATE_KEEP_APT_LISTS:-}" ] || $SUDO rm -rf /var/lib/apt/lists/*
fi

if ! id "$user" >/dev/null 2>&1; then
  $SUDO useradd --system --create-home --home-dir "/home/$user" --shell /usr/sbin/nologin "$user"
fi
$SUDO mkdir -p "$data"
$SUDO chown -R "$user:" "$data"

chromium --version
chromedriver --version
echo "runtime ready: user $user, data $data"
