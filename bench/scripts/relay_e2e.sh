#!/usr/bin/env bash
# Relay throughput (issue 5 "Speed"): smtp-source -> server (port 25 role) -> relayed to a Postfix smtp-sink,
# Postern against Postfix, interleaved on loopback, same sink, same load; plus the connections each opened to the
# sink, CPU per message, and the fsyncs per relayed message of each server (strace -c -f).
#
#   bench/scripts/relay_e2e.sh                     # 20 sessions, 4 KiB, 10000 messages, 3 reps each
#   SESSIONS=20 SIZE=4096 COUNT=20000 REPS=5 WARMUP=2000 bench/scripts/relay_e2e.sh
#   POSTERN_DIR=/tmp/p bench/scripts/relay_e2e.sh  # use an existing self-contained publish output
#   FSYNC_ONLY=1 bench/scripts/relay_e2e.sh        # only the fsyncs-per-message measurement (both servers)
#   FSYNC_COUNT=0 bench/scripts/relay_e2e.sh       # no fsync measurement
#
# Needs postfix (smtp-source, smtp-sink; ../shared/bench/install_deps.sh), strace, python3.
# The sink: `smtp-sink -c` on 127.0.0.1:$SINK_PORT (default 12626); -c prints "sess=S quit=Q mesg=M" after every
# session end and every "."; the last record is the count (M: messages, S: sessions = connections opened to it).
# Both servers relay to that one sink, so the counts are deltas.
# Postern: self-contained Release build, SMTP on 127.0.0.1:$PORT (default 12627), https (metrics) on $HTTPS_PORT
# (12628), Security:RateLimits=false, Smtp:GreetingDelay=0, MaxConnectionsPerIp=1000; customer.test is a relay domain
# with --relay-host 127.0.0.1:$SINK_PORT; Delivery:* defaults (10 connections per destination, 100 messages per
# connection, 5 s idle). Dns:Servers points at 127.0.0.1:$DNS_PORT, where nothing answers (a relay host given as an
# address needs no DNS; 127.0.0.1 as client is 'localhost' without a query).
# Postfix: a private instance under $BENCH_STATE/postern-relaybench (default /var/tmp/mailbench), smtpd on
# 127.0.0.1:$PF_PORT (12629), Debian's master.cf with chroot off; main.cf as the shared peer's (no local delivery,
# maillog_file, mynetworks 127.0.0.0/8) plus relay_domains = customer.test and
# transport_maps = inline:{customer.test=smtp:[127.0.0.1]:SINK_PORT}; everything else Postfix's defaults (so
# 20 connections per destination, connection cache on demand, smtpd in_flow_delay 1 s).
# The time of a rep runs from the start of smtp-source until the sink has counted all COUNT messages
# (../shared/bench/bench_smtp_e2e.py with --count-cmd reading the sink's counter).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
bench=${BENCH_DIR:-$repo/../shared/bench}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
count=${COUNT:-10000}
reps=${REPS:-3}
warmup=${WARMUP:-1000} # untimed messages before the first timed run of each server (JIT, page cache, Postfix processes)
sink_port=${SINK_PORT:-12626}
port=${PORT:-12627}
https_port=${HTTPS_PORT:-12628}
pf_port=${PF_PORT:-12629}
dns_port=${DNS_PORT:-12630}
fsync_count=${FSYNC_COUNT:-3000}
timeout=${TIMEOUT:-120}
idle_wait=${IDLE_WAIT:-7} # > Postern's Delivery:ConnectionIdleTime (5 s) and Postfix's smtp_connection_cache_time_limit (2 s)
rcpt=bob@customer.test
sender=sender@bench.test
state=$(mktemp -d /tmp/postern-relay.XXXXXX)
data=$state/data
pfroot=${BENCH_STATE:-/var/tmp/mailbench}/postern-relaybench
pf=$pfroot/postfix-$$
pid=
sink_pid=
pf_started=0

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  if ((pf_started)); then stop_postfix; fi
  if [[ -n "$sink_pid" ]] && kill -0 "$sink_pid" 2>/dev/null; then kill -TERM "$sink_pid"; wait "$sink_pid" 2>/dev/null || true; fi
  rm -rf "$state" "$pf"
  rmdir "$pfroot" 2>/dev/null || true
}
trap cleanup EXIT

for p in "$sink_port" "$port" "$https_port" "$pf_port"; do
  if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p is taken" >&2; exit 1; fi
done

if [[ -z "${POSTERN_DIR:-}" ]]; then
  POSTERN_DIR=/tmp/postern-bench-publish
  dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained -o "$POSTERN_DIR" -nologo -v q >/dev/null
fi
bin=$POSTERN_DIR/postern

# --- the sink -------------------------------------------------------------------------------------------------
sink_out=$state/sink.out
start_sink() {
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  smtp-sink -c -u nobody "127.0.0.1:$sink_port" 1024 >"$sink_out" 2>&1 &
  sink_pid=$!
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$sink_port") 2>/dev/null && return 0; sleep 0.1; done
  echo "smtp-sink did not start" >&2; exit 1
}
# the sink's last counter record: "sess=S quit=Q mesg=M"
sink_field() { tail -c 200 "$sink_out" 2>/dev/null | tr '\r' '\n' | grep -o "$1=[0-9]*" | tail -1 | cut -d= -f2 || true; }
sink_msgs() { local n; n=$(sink_field mesg); echo "${n:-0}"; }
sink_sessions() { local n; n=$(sink_field sess); echo "${n:-0}"; }
count_cmd="tail -c 200 $sink_out | tr '\\r' '\\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2"

# --- Postern ----------------------------------------------------------------------------------------------------
"$bin" customer add Bench --data "$data" >/dev/null
"$bin" domain add customer.test --customer Bench --relay-host "127.0.0.1:$sink_port" --data "$data" >/dev/null

start_postern() { # $@: launcher prefix (e.g. strace ...)
  local log=$state/postern.log
  : >"$log"
  "$@" "$bin" run --data "$data" --set Server:AllowRoot=true --set Server:Hostname=gw.bench.test \
    --set Listeners:smtp:Address=127.0.0.1 --set Listeners:smtp:Port="$port" --set Listeners:smtp:MaxConnectionsPerIp=1000 \
    --set Listeners:submission:Enabled=false --set Listeners:submissions:Enabled=false --set Listeners:lmtp:Enabled=false \
    --set Listeners:https:Address=127.0.0.1 --set Listeners:https:Port="$https_port" \
    --set Security:RateLimits=false --set Smtp:GreetingDelay=00:00:00 --set Dns:Servers:0="127.0.0.1:$dns_port" \
    ${POSTERN_SET:-} >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do grep -q '^ready in' "$log" && return 0; sleep 0.1; done
  echo "postern did not start:" >&2; cat "$log" >&2; exit 1
}
stop_postern() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

# --- Postfix ----------------------------------------------------------------------------------------------------
source bench/scripts/lib/postfix_relay.sh # the working folder is the repository's root (cd above)

# CPU seconds (ticks) of a process tree: live processes' utime+stime plus the root's reaped children (cutime+cstime)
tree_ticks() {
  python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1])
kids, ticks = {}, {}
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(f[1]), []).append(int(p))
        ticks[int(p)] = (int(f[11]) + int(f[12]), int(f[13]) + int(f[14]))
total, todo = ticks.get(root, (0, 0))[1], [root]
while todo:
    p = todo.pop()
    total += ticks.get(p, (0, 0))[0]
    todo.extend(kids.get(p, []))
print(total)
PY
}

results=$state/results.txt
run_rep() { # name target warm tree-root
  local name=$1 target=$2 warm=$3 root=$4 s0 s1 c0 c1
  s0=$(sink_sessions); c0=$(tree_ticks "$root")
  "$bench/bench_smtp_e2e.py" "$target" -s "$sessions" -l "$size" -m "$count" --reps 1 --warmup "$warm" \
    --count-cmd "$count_cmd" --rcpt "$rcpt" --sender "$sender" --run-timeout "$timeout" --name "$name" | tee -a "$results"
  c1=$(tree_ticks "$root")
  sleep "$idle_wait" # the sink counts a session when it ends: let the idle cached connections close first
  s1=$(sink_sessions)
  awk -v n="$name" -v s="$((s1 - s0))" -v c="$((c1 - c0))" -v m="$((count + warm))" -v hz="$(getconf CLK_TCK)" \
    -v load="$(cut -d' ' -f1-3 /proc/loadavg)" \
    'BEGIN { printf "EXTRA %s sink_connections=%d messages=%d (warm-up included) msgs_per_connection=%.1f cpu_ms_per_message=%.2f load=%s\n", n, s, m, m / (s ? s : 1), c * 1000 / hz / m, load }' |
    tee -a "$results"
}

# fsyncs per relayed message: each server runs under strace -f (only fsync/fdatasync stop it) for FSYNC_COUNT
# messages after a warm-up; counted from the trace per file. Postfix: strace attaches to the master and every
# running daemon (-f follows the ones it forks).
fsyncs_per_message() {
  local trace=$state/strace-$1.txt base n from t0 t1 tracer
  if [[ $1 == postern ]]; then
    start_postern strace -f --seccomp-bpf -e trace=fsync,fdatasync -y -o "$trace"
    tracer=$pid
    pid=$(pgrep -P "$tracer" -x postern)
    target=127.0.0.1:$port
  else
    start_postfix
    local args=()
    while read -r p; do args+=(-p "$p"); done < <(python3 -c "
import sys; sys.path.insert(0, '$bench'); from benchlib import proc_tree; print('\n'.join(map(str, proc_tree($(pf_master)))))")
    strace -f -e trace=fsync,fdatasync -y -o "$trace" "${args[@]}" 2>/dev/null &
    tracer=$!
    sleep 1
    target=127.0.0.1:$pf_port
  fi
  base=$(sink_msgs)
  smtp-source -s "$sessions" -m 500 -l "$size" -f "$sender" -t "$rcpt" "$target" >/dev/null 2>&1
  for _ in $(seq 1 600); do n=$(sink_msgs); ((n - base >= 500)) && break; sleep 0.05; done
  sleep 1
  base=$(sink_msgs)
  from=$(wc -l <"$trace")
  t0=$(date +%s.%N)
  smtp-source -s "$sessions" -m "$fsync_count" -l "$size" -f "$sender" -t "$rcpt" "$target" >/dev/null 2>&1
  for _ in $(seq 1 1200); do n=$(sink_msgs); ((n - base >= fsync_count)) && break; sleep 0.05; done
  t1=$(date +%s.%N)
  sleep 1 # the last deliveries' queue removals
  tail -n +"$((from + 1))" "$trace" >"$state/strace-$1.run"
  if [[ $1 == postern ]]; then
    kill -TERM "$pid"; wait "$tracer" 2>/dev/null || true; pid=
  else
    kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
    stop_postfix
  fi
  python3 - "$state/strace-$1.run" "$fsync_count" "$t0" "$t1" "$1" <<'PY'
import collections, re, sys
per_file = collections.Counter()
for line in open(sys.argv[1]):
    m = re.search(r"\bf(?:data)?sync\(\d+<([^>]*)>", line)
    if m:
        f = m.group(1)
        # Postfix queue files are named by queue id: group them by queue folder
        parts = f.split("/")
        key = parts[-1] if "postfix" not in f or "spool" not in f else "spool/" + parts[parts.index("spool") + 1]
        per_file[key] += 1
n = int(sys.argv[2])
total = sum(per_file.values())
files = " ".join(f"{f}={c / n:.3f}" for f, c in per_file.most_common(8))
print(f"RESULT {sys.argv[5]}_fsyncs_per_message={total / n:.3f} fsyncs={total} messages={n} per_file: {files} "
      f"(rate under strace {n / (float(sys.argv[4]) - float(sys.argv[3])):.0f} msg/s)")
PY
}

start_sink

if [[ -n "${FSYNC_ONLY:-}" ]]; then
  fsyncs_per_message postfix
  fsyncs_per_message postern
  exit 0
fi

start_postfix
start_postern
echo "# $(date -u '+%F %T') UTC: $sessions sessions, $size B, $count messages per rep, $reps reps, warm-up $warmup" | tee -a "$results"
for rep in $(seq 1 "$reps"); do
  warm=0; ((rep == 1)) && warm=$warmup
  run_rep postfix "127.0.0.1:$pf_port" "$warm" "$(pf_master)"
  run_rep postern "127.0.0.1:$port" "$warm" "$pid"
done
curl -sk "https://127.0.0.1:$https_port/metrics" | grep -E '^postern_delivery_recipients_total' | sed 's/^/METRIC /' | tee -a "$results" || true
echo "RSS postern_vmrss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status") VmHWM_kib=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")" | tee -a "$results"
stop_postern
stop_postfix
echo "SINK total $(tail -c 200 "$sink_out" | tr '\r' '\n' | tail -1)" | tee -a "$results"

python3 - "$results" "$sessions" "$size" "$count" <<'PY'
import re, statistics, sys
runs = {"postfix": [], "postern": []}
for line in open(sys.argv[1]):
    m = re.match(r"RESULT (\w+)=([\d.]+)", line)
    if m and m.group(1) in runs:
        runs[m.group(1)].append(float(m.group(2)))
s, size, n = sys.argv[2:5]
def show(name, xs):
    return f"{name}: median {statistics.median(xs):.1f} msg/s (min {min(xs):.1f}, max {max(xs):.1f}) runs={[round(x, 1) for x in xs]}"
print(f"# {s} sessions, {size} B, {n} messages per run")
print(show("Postfix", runs["postfix"]))
print(show("Postern", runs["postern"]))
ratios = [b / a for a, b in zip(runs["postfix"], runs["postern"])]
print(f"ratio (medians): {statistics.median(runs['postern']) / statistics.median(runs['postfix']):.2f}x; per rep {[round(r, 2) for r in ratios]}")
PY
if ((fsync_count > 0)); then
  fsyncs_per_message postfix
  fsyncs_per_message postern
fi
