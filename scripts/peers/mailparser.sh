#!/usr/bin/env bash
# Installs npm mailparser (the referee parser for Postern.Mime) into a git-ignored folder and prints that folder.
#   scripts/peers/mailparser.sh [DIR]     default DIR: artifacts/peers/mailparser under the repository
# Versions are the ones ../shared/corpus/README.md pins (mailparser 3.14.2 with three overrides).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${1:-$root/artifacts/peers/mailparser}"
mkdir -p "$dir"
if [ ! -f "$dir/node_modules/mailparser/package.json" ] || ! grep -q '"version": "3.14.2"' "$dir/node_modules/mailparser/package.json"; then
  cat > "$dir/package.json" <<'JSON'
{
  "name": "postern-mailparser-peer",
  "private": true,
  "dependencies": { "mailparser": "3.14.2" },
  "overrides": {
    "@zone-eu/mailsplit": "5.4.19",
    "encoding-japanese": "2.4.0",
    "libqp": "2.1.2"
  }
}
JSON
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >&2)
fi
cp "$(dirname "$0")/mailparser-dump.js" "$dir/dump.js"
echo "$dir"
