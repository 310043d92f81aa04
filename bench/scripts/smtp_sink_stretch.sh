#!/usr/bin/env bash
# SMTP accept rate against the protocol's upper bound on this machine (issue 4, stretch figure): Postern's accept
# rate (250 once the message is in the mailbox) interleaved with Postfix's smtp-sink (accepts and discards), both
# driven by ../shared/bench/bench_smtp_accept.py (smtp-source, one message per connection, time to exit).
#
#   bench/scripts/smtp_sink_stretch.sh                 # 20 sessions, 4 KiB, 20000 messages, 3 reps each
#   SESSIONS=20 SIZE=4096 COUNT=20000 REPS=3 POSTERN_DIR=/tmp/p bench/scripts/smtp_sink_stretch.sh
#
# Postern: self-contained Release build, SMTP on 127.0.0.1:$PORT (default 12665) with MaxConnectionsPerIp=1000, the
# other listeners off, user@example.test a hosted account. smtp-sink: ../shared/bench/peers/smtp_sink.sh on
# 127.0.0.1:$SINK_PORT (default 12526, its state under $BENCH_STATE).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
bench=${BENCH_DIR:-$repo/../shared/bench}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
count=${COUNT:-20000}
reps=${REPS:-3}
port=${PORT:-12665}
sink_addr=127.0.0.1:${SINK_PORT:-12526}
state=$(mktemp -d /tmp/postern-stretch.XXXXXX)
data=$state/data
pid=
sink_started=0

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  if ((sink_started)); then "$bench/peers/smtp_sink.sh" stop "$sink_addr" >/dev/null 2>&1 || true; fi
  rm -rf "$state"
}
trap cleanup EXIT

if [[ -z "${POSTERN_DIR:-}" ]]; then
  POSTERN_DIR=/tmp/postern-bench-publish
  dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained -o "$POSTERN_DIR" -nologo -v q >/dev/null
fi
bin=$POSTERN_DIR/postern
if ss -Hltn "sport = :$port" | grep -q .; then echo "port $port is taken" >&2; exit 1; fi

"$bin" customer add Bench --data "$data" >/dev/null
"$bin" domain add example.test --customer Bench --kind hosted --data "$data" >/dev/null
"$bin" account add user@example.test --password Bench-pw-2026 --data "$data" >/dev/null
"$bin" run --data "$data" --set Server:AllowRoot=true --set Server:Hostname=bench.example.test \
  --set Listeners:smtp:Address=127.0.0.1 --set Listeners:smtp:Port="$port" --set Listeners:smtp:MaxConnectionsPerIp=1000 \
  --set Listeners:submission:Enabled=false --set Listeners:submissions:Enabled=false --set Listeners:lmtp:Enabled=false \
  --set Listeners:https:Enabled=false >"$state/postern.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '^ready in' "$state/postern.log" && break; sleep 0.1; done
grep -q '^ready in' "$state/postern.log" || { echo "postern did not start:" >&2; cat "$state/postern.log" >&2; exit 1; }
"$bench/peers/smtp_sink.sh" start "$sink_addr" >&2
sink_started=1

results=$state/results.txt
echo "# $(date -u '+%F %T') UTC: $sessions sessions, $size B, $count messages per rep, $reps reps" | tee -a "$results"
for rep in $(seq 1 "$reps"); do
  warm=0; ((rep == 1)) && warm=1000
  "$bench/bench_smtp_accept.py" "$sink_addr" -s "$sessions" -l "$size" -m "$count" --reps 1 --warmup "$warm" --name sink | tee -a "$results"
  "$bench/bench_smtp_accept.py" "127.0.0.1:$port" -s "$sessions" -l "$size" -m "$count" --reps 1 --warmup "$warm" \
    --rcpt user@example.test --name postern | tee -a "$results"
  echo "load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$results"
done
python3 - "$results" <<'PY'
import re, statistics, sys
runs = {"sink": [], "postern": []}
for line in open(sys.argv[1]):
    m = re.match(r"RESULT (\w+)=([\d.]+)", line)
    if m and m.group(1) in runs:
        runs[m.group(1)].append(float(m.group(2)))
for k, v in runs.items():
    print(f"{k}: median {statistics.median(v):.0f} msg/s (min {min(v):.0f}, max {max(v):.0f}) runs={[round(x) for x in v]}")
r = [b / a for a, b in zip(runs["sink"], runs["postern"])]
print(f"Postern / smtp-sink (medians): {statistics.median(runs['postern']) / statistics.median(runs['sink']):.2f}; per rep {[round(x, 2) for x in r]}")
PY
