#!/usr/bin/env bash
# Start-up time to all listeners ready, and resident memory when idle.
#   bench/scripts/startup.sh [runs] [idle-seconds]
# Builds the self-contained Release binary once, then per run: a fresh data folder (first start) and a
# second start on the same folder; "ready" is the banner line printed after every listener is bound.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
idle=${2:-10}
out=/tmp/postern-bench-publish
dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained -o "$out" -nologo -v q >/dev/null
bin="$out/postern"

measure() { # $1 = data folder; prints "ready_ms rss_kb"
  local log pid ready rss
  log=$(mktemp)
  "$bin" run --data "$1" --set Server:AllowRoot=true --set Server:Hostname=bench.example.test >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do grep -q '^ready in' "$log" && break; sleep 0.1; done
  ready=$(sed -n 's/^ready in \([0-9]*\) ms/\1/p' "$log")
  sleep "$idle"
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  rm -f "$log"
  echo "$ready $rss"
}

first=() second=() rss=()
for i in $(seq 1 "$runs"); do
  data=$(mktemp -d)/data
  read -r r1 _ <<<"$(measure "$data")"
  read -r r2 m2 <<<"$(measure "$data")"
  first+=("$r1"); second+=("$r2"); rss+=("$m2")
  rm -rf "$(dirname "$data")"
done

stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "median %s (min %s, max %s)", a[int((NR+1)/2)], a[1], a[NR]}'; }
echo "first start to ready (ms):  $(stats "${first[@]}")"
echo "second start to ready (ms): $(stats "${second[@]}")"
echo "idle RSS after ${idle}s (KiB): $(stats "${rss[@]}")"
