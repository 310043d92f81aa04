#!/usr/bin/env bash
# Installs npm imapflow, pinned by tests/fixtures/imapflow/package-lock.json, into that folder's (git-ignored)
# node_modules with `npm ci`, unless the pinned version is already there; prints the folder.
# Used by tests/Postern.Host.Tests/Imap/ImapflowPeerTests.cs; npm comes with Debian's nodejs (scripts/test-deps/imap.txt).
set -euo pipefail
dir="$(cd "$(dirname "$0")/../../tests/fixtures/imapflow" && pwd)"
want="$(node -e 'console.log(require(process.argv[1]).packages["node_modules/imapflow"].version)' "$dir/package-lock.json")"
exec 9>"$dir/.install.lock"
flock 9
have="$(node -e 'try { console.log(require(process.argv[1]).version) } catch { console.log("none") }' "$dir/node_modules/imapflow/package.json")"
if [ "$have" != "$want" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
echo "$dir"
