#!/usr/bin/env bash
# Installs the Debian packages that the end-to-end tests drive as real peers.
# Each file in scripts/test-deps/*.txt lists packages, one per line ('#' starts a comment).
# Runs apt only when something is missing; needs root (CI runs as root).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t wanted < <(cat scripts/test-deps/*.txt 2>/dev/null | sed 's/#.*//' | awk 'NF {print $1}' | sort -u)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test peers: all installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "test peers missing (${missing[*]}); run as root or install them: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "test peers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Postfix is only a test peer (its programs run a private instance): no system-wide mail server on port 25.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
