#!/usr/bin/env bash
# A 100,000-message backlog (issue 5): mail for a relay domain whose server is down piles up in Postern's queue;
# memory must stay bounded and the queue must drain at full speed when the server is back.
#
#   bench/scripts/relay_backlog.sh                       # 100000 messages of 4 KiB over 20 sessions
#   COUNT=20000 SIT=30 bench/scripts/relay_backlog.sh    # a smaller run
#   POSTERN_DIR=/tmp/p bench/scripts/relay_backlog.sh    # use an existing self-contained publish output
#
# Phases, each with Postern's resident memory (VmRSS, sampled every second by this script; smaps_rollup Rss at
# the marks) and CPU time:
#  1. idle: Postern started, customer.test a relay domain with --relay-host 127.0.0.1:$SINK_PORT, where nothing
#     listens (connections are refused at once); RSS after 10 s.
#  2. load: smtp-source -s SESSIONS -m COUNT -l SIZE to Postern's SMTP port (RateLimits off, no greeting delay).
#  3. backlog: SIT seconds after the load (default 60); RSS, queue.db (+ -wal) and data folder sizes, queue
#     summary, and the connection attempts the dead server got meanwhile (log lines "Destination ... unreachable").
#  4. drain: smtp-sink (-c, and -d into a tmpfs folder when DUMP=1, the default) starts on the port, then
#     `postern queue retry --domain customer.test`; the time until the sink has all COUNT messages (and from its
#     first one), the drain rate, peak RSS; then the queue must be empty and the sink must hold exactly COUNT
#     messages with COUNT different Postern queue ids (Postern's Received field; smtp-source's Message-Ids
#     are <pid.session.message@host> in 16-bit hex fields, so they are counted too but may repeat by themselves).
# Defaults otherwise (Delivery: 10 connections per destination, destination backoff 1 min doubling to 10 min).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
count=${COUNT:-100000}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
sit=${SIT:-60}
dump=${DUMP:-1}
sink_port=${SINK_PORT:-12646}
port=${PORT:-12647}
https_port=${HTTPS_PORT:-12648}
dns_port=${DNS_PORT:-12650}
drain_timeout=${DRAIN_TIMEOUT:-1500}
state=$(mktemp -d /tmp/postern-backlog.XXXXXX)
dumpdir=$(mktemp -d /dev/shm/postern-backlog-dump.XXXXXX)
data=$state/data
pid=
sink_pid=
sampler_pid=

cleanup() {
  if [[ -n "$sampler_pid" ]] && kill -0 "$sampler_pid" 2>/dev/null; then kill "$sampler_pid"; wait "$sampler_pid" 2>/dev/null || true; fi
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  if [[ -n "$sink_pid" ]] && kill -0 "$sink_pid" 2>/dev/null; then kill -TERM "$sink_pid"; wait "$sink_pid" 2>/dev/null || true; fi
  rm -rf "$dumpdir"
  if [[ -n "${KEEP_STATE:-}" ]]; then echo "state kept in $state" >&2; else rm -rf "$state"; fi
}
trap cleanup EXIT

for p in "$sink_port" "$port" "$https_port"; do
  if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p is taken" >&2; exit 1; fi
done

if [[ -z "${POSTERN_DIR:-}" ]]; then
  POSTERN_DIR=/tmp/postern-bench-publish
  dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained -o "$POSTERN_DIR" -nologo -v q >/dev/null
fi
bin=$POSTERN_DIR/postern

"$bin" customer add Bench --data "$data" >/dev/null
"$bin" domain add customer.test --customer Bench --relay-host "127.0.0.1:$sink_port" --data "$data" >/dev/null

log=$state/postern.log
"$bin" run --data "$data" --set Server:AllowRoot=true --set Server:Hostname=gw.bench.test \
  --set Listeners:smtp:Address=127.0.0.1 --set Listeners:smtp:Port="$port" --set Listeners:smtp:MaxConnectionsPerIp=1000 \
  --set Listeners:submission:Enabled=false --set Listeners:submissions:Enabled=false --set Listeners:lmtp:Enabled=false \
  --set Listeners:https:Address=127.0.0.1 --set Listeners:https:Port="$https_port" \
  --set Security:RateLimits=false --set Smtp:GreetingDelay=00:00:00 --set Dns:Servers:0="127.0.0.1:$dns_port" \
  ${POSTERN_SET:-} >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '^ready in' "$log" && break; sleep 0.1; done
grep -q '^ready in' "$log" || { echo "postern did not start:" >&2; cat "$log" >&2; exit 1; }

hz=$(getconf CLK_TCK)
samples=$state/samples.txt
# epoch-seconds VmRSS-KiB cpu-ticks, every second
(while kill -0 "$pid" 2>/dev/null; do
  echo "$(date +%s.%N) $(awk '/^VmRSS/ {print $2}' "/proc/$pid/status") $(awk '{print $14 + $15}' "/proc/$pid/stat")"
  sleep 1
done) >"$samples" 2>/dev/null &
sampler_pid=$!

now() { date +%s.%N; }
rss() { awk '/^Rss:/ {printf "%.1f", $2 / 1024}' "/proc/$pid/smaps_rollup"; }
cpu_s() { awk -v hz="$hz" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$pid/stat"; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }
# peak VmRSS (MiB) in the samples between two epoch times
peak() { awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 > m {m = $2} END {printf "%.1f", m / 1024}' "$samples"; }
unreachable() { grep -c 'Destination relay:customer.test unreachable' "$log" || true; }
gc_heap() { curl -sk "https://127.0.0.1:$https_port/metrics" | awk '/^dotnet_gc_last_collection_heap_size_bytes/ {s += $2} END {printf "%.1f", s / 1048576}'; }

echo "# $(date -u '+%F %T') UTC: $count messages of $size B over $sessions sessions to a relay domain whose server is down; load $(cut -d' ' -f1-3 /proc/loadavg)"
sleep 10
echo "RESULT idle rss_mib=$(rss) cpu_s=$(cpu_s) gc_heap_mib=$(gc_heap)"

# --- 2. load ----------------------------------------------------------------------------------------------------
t_load=$(now)
smtp-source -s "$sessions" -m "$count" -l "$size" -f sender@bench.test -t bob@customer.test "127.0.0.1:$port" 2>"$state/source.err" || true
t_loaded=$(now)
echo "RESULT load seconds=$(awk -v a="$t_load" -v b="$t_loaded" 'BEGIN {printf "%.1f", b - a}') accept_rate=$(awk -v a="$t_load" -v b="$t_loaded" -v n="$count" 'BEGIN {printf "%.0f", n / (b - a)}') msg/s peak_rss_mib=$(peak "$t_load" "$t_loaded") rss_at_end_mib=$(rss) cpu_s=$(cpu_s) smtp_source_errors=$(wc -l <"$state/source.err") load=$(cut -d' ' -f1-3 /proc/loadavg)"

# --- 3. the backlog sits ----------------------------------------------------------------------------------------
sleep "$sit"
t_sat=$(now)
echo "RESULT backlog after_s=$sit rss_mib=$(rss) peak_rss_since_load_mib=$(peak "$t_load" "$t_sat") gc_heap_mib=$(gc_heap) cpu_s=$(cpu_s) queue_db_mib=$(mib "$(fsize "$data/queue.db")") queue_wal_mib=$(mib "$(fsize "$data/queue.db-wal")") mailbox_db_mib=$(mib "$(fsize "$data/mailbox.db")") data_folder_mib=$(du -sm "$data" | cut -f1) dead_server_attempts=$(unreachable)"
ls -la "$data" | sed 's/^/  /'
"$bin" queue summary --data "$data" | sed 's/^/  /'
grep 'Destination relay:customer.test unreachable' "$log" | sed 's/^/  /' | head -5

# --- 4. the server comes back -----------------------------------------------------------------------------------
sink_args=(-c)
((dump)) && sink_args+=(-d "$dumpdir/%H%M/")
chown nobody "$dumpdir"
smtp-sink "${sink_args[@]}" -u nobody "127.0.0.1:$sink_port" 1024 >"$state/sink.out" 2>&1 &
sink_pid=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$sink_port") 2>/dev/null && break; sleep 0.1; done
sink_msgs() { local n; n=$(tail -c 200 "$state/sink.out" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || true); echo "${n:-0}"; }
t_retry=$(now)
cpu_retry=$(cpu_s)
"$bin" queue retry --domain customer.test --data "$data" | sed 's/^/  retry: /'
t_first=
for _ in $(seq 1 $((drain_timeout * 5))); do
  n=$(sink_msgs)
  if [[ -z "$t_first" ]] && ((n > 0)); then t_first=$(now); cpu_first=$(cpu_s); fi
  ((n >= count)) && break
  sleep 0.2
done
t_drained=$(now)
n=$(sink_msgs)
t_first=${t_first:-$t_drained}
cpu_first=${cpu_first:-$(cpu_s)}
echo "RESULT drain delivered=$n wait_for_first_s=$(awk -v a="$t_retry" -v b="$t_first" 'BEGIN {printf "%.1f", b - a}') cpu_while_waiting_s=$(awk -v a="$cpu_retry" -v b="$cpu_first" 'BEGIN {printf "%.1f", b - a}') drain_s=$(awk -v a="$t_first" -v b="$t_drained" 'BEGIN {printf "%.1f", b - a}') drain_rate=$(awk -v a="$t_first" -v b="$t_drained" -v n="$n" 'BEGIN {printf "%.0f", n / (b - a)}') msg/s rate_from_retry=$(awk -v a="$t_retry" -v b="$t_drained" -v n="$n" 'BEGIN {printf "%.0f", n / (b - a)}') peak_rss_mib=$(peak "$t_retry" "$t_drained") cpu_s=$(cpu_s) load=$(cut -d' ' -f1-3 /proc/loadavg)"
grep -E 'answers again|unreachable' "$log" | tail -3 | sed 's/^/  /'
for _ in $(seq 1 120); do
  m=$("$bin" queue summary --json --data "$data" | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])')
  ((m == 0)) && break
  sleep 1
done
t_empty=$(now)
sleep 7
echo "RESULT empty queue_messages=$m after_retry_s=$(awk -v a="$t_retry" -v b="$t_empty" 'BEGIN {printf "%.1f", b - a}') rss_mib=$(rss) sink: $(tail -c 200 "$state/sink.out" | tr '\r' '\n' | tail -1) queue_db_mib=$(mib "$(fsize "$data/queue.db")")"
if ((dump)); then
  python3 - "$dumpdir" "$count" <<'PY'
import collections, os, re, sys
root, want = sys.argv[1], int(sys.argv[2])
ids, queue_ids, files = collections.Counter(), collections.Counter(), 0
for d, _, names in os.walk(root):
    for name in names:
        files += 1
        with open(os.path.join(d, name), "rb") as f:
            head = f.read(4096).decode("latin-1")
        m = re.search(r"^Message-I[dD]:\s*(\S+)", head, re.M)
        ids[m.group(1) if m else None] += 1
        # Postern's own Received field (the sink puts its own above it): "by gw.bench.test (...) with ESMTP id QUEUEID"
        q = re.search(r"by gw\.bench\.test\b.*?\bid ([^\s;]+)", head, re.S)
        queue_ids[q.group(1) if q else None] += 1
dup = sum(c - 1 for k, c in ids.items() if k and c > 1)
qdup = sum(c - 1 for k, c in queue_ids.items() if k and c > 1)
print(f"RESULT dump files={files} distinct_message_ids={len([k for k in ids if k])} missing_message_id={ids[None]} "
      f"duplicate_message_ids={dup} distinct_postern_queue_ids={len([k for k in queue_ids if k])} duplicate_queue_ids={qdup} "
      f"missing_queue_id={queue_ids[None]} {'OK' if files == want and qdup == 0 and not queue_ids[None] else 'MISMATCH'}")
PY
fi
awk -v t0="$t_load" '{printf "%.0f %.1f %.1f\n", $1 - t0, $2 / 1024, $3}' "$samples" >"$state/rss.txt"
if [[ -n "${SAMPLES_OUT:-}" ]]; then cp "$state/rss.txt" "$SAMPLES_OUT"; fi
