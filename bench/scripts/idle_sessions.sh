#!/usr/bin/env bash
# Resident memory with many idle SMTP sessions (issue 4 goal: 10,000 sessions, under 100 MB above idle).
#   bench/scripts/idle_sessions.sh [idle_sessions.py options]   e.g. --reps 3 --gc workstation,server
# Publishes the self-contained Release build to $POSTERN_PUBLISH (default /tmp/postern-idle-publish),
# raises the open-file limit (server and client each hold one descriptor per session) and runs
# idle_sessions.py against it. SKIP_PUBLISH=1 reuses an existing publish folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${POSTERN_PUBLISH:-/tmp/postern-idle-publish}
if [[ "${SKIP_PUBLISH:-0}" != 1 ]]; then
  dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained -o "$out" -nologo -v q >/dev/null
fi
hard=$(ulimit -Hn)
want=30000
if [[ "$hard" != unlimited && "$hard" -lt "$want" ]]; then want=$hard; fi
ulimit -n "$want"
exec python3 bench/scripts/idle_sessions.py --binary "$out/postern" "$@"
