#!/usr/bin/env bash
# SMTP end to end (issue 4 "Speed"): smtp-source -> server -> mailbox, Postern against Postfix+Dovecot,
# interleaved on loopback, plus fsyncs per message of the Postern server (strace -c -f).
#
#   bench/scripts/smtp_e2e.sh                      # 20 sessions, 4 KiB, 5000 messages, 3 reps each
#   SESSIONS=100 SIZE=65536 COUNT=3000 REPS=3 WARMUP=1000 bench/scripts/smtp_e2e.sh
#   POSTERN_DIR=/tmp/p bench/scripts/smtp_e2e.sh   # use an existing self-contained publish output
#   FSYNC_ONLY=1 bench/scripts/smtp_e2e.sh         # only the fsyncs-per-message measurement
#   PEER_FSYNC_ONLY=1 bench/scripts/smtp_e2e.sh    # only the same measurement for Postfix+Dovecot
#
# Needs ../shared/bench (install_deps.sh done: postfix, dovecot-lmtpd, smtp-source), strace, python3.
# Postern: `dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained`, SMTP on 127.0.0.1:12625
# with Listeners:smtp:MaxConnectionsPerIp=1000 (smtp-source's sessions plus those still closing), the other
# listeners on free ports; the recipient user@example.test is a hosted account. "Delivered" is the account's
# message count in mailbox.db (read-only sqlite3), Postfix+Dovecot's is the Maildir file count.
# Both fsync before the 250 (Postfix: queue file; Dovecot: fsync_mode default; Postern: WAL sync).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
bench=${BENCH_DIR:-$repo/../shared/bench}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
count=${COUNT:-5000}
reps=${REPS:-3}
port=${PORT:-12625}
fsync_count=${FSYNC_COUNT:-2000}
warmup=${WARMUP:-1000} # untimed messages before the first timed run of each server (JIT, page cache)
state=$(mktemp -d /tmp/postern-e2e.XXXXXX)
data=$state/data
pid=
peer_started=0

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  if ((peer_started)); then "$bench/peers/postfix_dovecot.sh" stop >/dev/null 2>&1 || true; fi
  rm -rf "$state"
}
trap cleanup EXIT

if [[ -z "${POSTERN_DIR:-}" ]]; then
  POSTERN_DIR=/tmp/postern-bench-publish
  dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained -o "$POSTERN_DIR" -nologo -v q >/dev/null
fi
bin=$POSTERN_DIR/postern

"$bin" customer add Bench --data "$data" >/dev/null
"$bin" domain add example.test --customer Bench --kind hosted --data "$data" >/dev/null
"$bin" account add user@example.test --password Bench-pw-2026 --data "$data" >/dev/null

start_postern() { # $@: launcher prefix (e.g. strace ...)
  local log=$state/postern.log
  : >"$log"
  "$@" "$bin" run --data "$data" --set Server:AllowRoot=true --set Server:Hostname=bench.example.test \
    --set Listeners:smtp:Address=127.0.0.1 --set Listeners:smtp:Port="$port" --set Listeners:smtp:MaxConnectionsPerIp=1000 \
    --set Listeners:submission:Port=0 --set Listeners:submissions:Port=0 --set Listeners:lmtp:Port=0 \
    --set Listeners:https:Port=0 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do grep -q '^ready in' "$log" && return 0; sleep 0.1; done
  echo "postern did not start:" >&2; cat "$log" >&2; exit 1
}

stop_postern() {
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
}

count_cmd="python3 -c \"import sqlite3;c=sqlite3.connect('file:$data/mailbox.db?mode=ro',uri=True);print(c.execute('select coalesce(sum(message_count),0) from accounts').fetchone()[0])\""

# fsyncs per message: the server runs under `strace -f --seccomp-bpf -e trace=fsync,fdatasync -y` (only those
# calls stop the process, so batching is barely disturbed) while it takes FSYNC_COUNT messages after a
# warm-up; the synced files are counted from the trace. The rate of this run is printed but not used.
fsyncs_per_message() {
  local trace=$state/strace.txt base n from t0 t1
  start_postern strace -f --seccomp-bpf -e trace=fsync,fdatasync -y -o "$trace"
  local tracer=$pid
  pid=$(pgrep -P "$tracer" -x postern) # the traced server, so TERM reaches it
  smtp-source -s "$sessions" -m 300 -l "$size" -f a@x.test -t user@example.test "127.0.0.1:$port" >/dev/null 2>&1
  sleep 2
  base=$(eval "$count_cmd")
  from=$(wc -l <"$trace")
  t0=$(date +%s.%N)
  smtp-source -s "$sessions" -m "$fsync_count" -l "$size" -f a@x.test -t user@example.test "127.0.0.1:$port" >/dev/null 2>&1
  for _ in $(seq 1 600); do n=$(eval "$count_cmd"); ((n - base >= fsync_count)) && break; sleep 0.05; done
  t1=$(date +%s.%N)
  tail -n +"$((from + 1))" "$trace" >"$state/strace.run"
  kill -TERM "$pid"; wait "$tracer" 2>/dev/null || true; pid=
  python3 - "$state/strace.run" "$fsync_count" "$t0" "$t1" <<'PY'
import collections, re, sys
per_file = collections.Counter()
for line in open(sys.argv[1]):
    m = re.search(r"\bf(?:data)?sync\(\d+<([^>]*)>", line)
    if m:
        per_file[m.group(1).rsplit("/", 1)[-1]] += 1
n = int(sys.argv[2])
total = sum(per_file.values())
files = " ".join(f"{f}={c / n:.3f}" for f, c in per_file.most_common())
print(f"RESULT postern_fsyncs_per_message={total / n:.3f} fsyncs={total} messages={n} per_file: {files} "
      f"(rate under strace {n / (float(sys.argv[4]) - float(sys.argv[3])):.0f} msg/s)")
PY
}

# The same for Postfix+Dovecot: strace -f attaches to every process of both trees (the masters and the daemons they
# run; -f follows the ones they fork later); no --seccomp-bpf with -p, so the peer runs slower under the trace.
peer_fsyncs_per_message() {
  local trace=$state/strace-peer.txt from base n t0 t1 tracer args=()
  "$bench/peers/postfix_dovecot.sh" start >&2
  peer_started=1
  local md; md=$("$bench/peers/postfix_dovecot.sh" maildir user@example.test)
  local pf_master dc_master
  pf_master=$(tr -dc 0-9 <"${BENCH_STATE:-/var/tmp/mailbench}/postfix/spool/pid/master.pid")
  dc_master=$("$bench/peers/postfix_dovecot.sh" pid)
  while read -r p; do args+=(-p "$p"); done < <(python3 -c "
import sys; sys.path.insert(0, '$bench'); from benchlib import proc_tree
print('\n'.join(map(str, proc_tree($pf_master) + proc_tree($dc_master))))")
  strace -f -e trace=fsync,fdatasync -y -o "$trace" "${args[@]}" 2>/dev/null &
  tracer=$!
  sleep 1
  local mcount="find $md/new $md/cur -type f 2>/dev/null | wc -l"
  base=$(eval "$mcount")
  smtp-source -s "$sessions" -m 300 -l "$size" -f a@x.test -t user@example.test 127.0.0.1:12525 >/dev/null 2>&1
  for _ in $(seq 1 1200); do n=$(eval "$mcount"); ((n - base >= 300)) && break; sleep 0.1; done
  sleep 2
  base=$(eval "$mcount")
  from=$(wc -l <"$trace")
  t0=$(date +%s.%N)
  smtp-source -s "$sessions" -m "$fsync_count" -l "$size" -f a@x.test -t user@example.test 127.0.0.1:12525 >/dev/null 2>&1
  for _ in $(seq 1 3000); do n=$(eval "$mcount"); ((n - base >= fsync_count)) && break; sleep 0.1; done
  t1=$(date +%s.%N)
  sleep 2
  tail -n +"$((from + 1))" "$trace" >"$state/strace-peer.run"
  kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
  "$bench/peers/postfix_dovecot.sh" stop >/dev/null 2>&1 || true
  peer_started=0
  python3 - "$state/strace-peer.run" "$fsync_count" "$t0" "$t1" "$((n - base))" <<'PY'
import collections, re, sys
per = collections.Counter()
for line in open(sys.argv[1]):
    m = re.search(r"\bf(?:data)?sync\(\d+<([^>]*)>", line)
    if not m:
        continue
    f = m.group(1)
    if "/postfix/spool/" in f:
        key = "postfix:" + f.split("/postfix/spool/")[1].split("/")[0]       # the queue folder (incoming, active, ...)
    elif "/Maildir/" in f:
        parts = f.split("/Maildir/")[1].split("/")   # tmp/FILE, new (the folder itself), dovecot-uidlist, ...
        key = "dovecot:" + (parts[-1] if parts[-1].startswith("dovecot") else parts[0] + ("/" if len(parts) > 1 else "(folder)"))
    else:
        key = f.rsplit("/", 1)[-1]
    per[key] += 1
n = int(sys.argv[2])
total = sum(per.values())
print(f"RESULT pfdc_fsyncs_per_message={total / n:.3f} fsyncs={total} messages={n} delivered={sys.argv[5]} per_file: "
      + " ".join(f"{k}={c / n:.3f}" for k, c in per.most_common(8))
      + f" (rate under strace {n / (float(sys.argv[4]) - float(sys.argv[3])):.0f} msg/s)")
PY
}

if [[ -n "${PEER_FSYNC_ONLY:-}" ]]; then
  peer_fsyncs_per_message
  exit 0
fi

if [[ -n "${FSYNC_ONLY:-}" ]]; then
  fsyncs_per_message
  exit 0
fi

"$bench/peers/postfix_dovecot.sh" start >&2
peer_started=1
maildir=$("$bench/peers/postfix_dovecot.sh" maildir user@example.test)
start_postern

results=$state/results.txt
for rep in $(seq 1 "$reps"); do
  warm=0; ((rep == 1)) && warm=$warmup
  "$bench/bench_smtp_e2e.py" 127.0.0.1:12525 -s "$sessions" -l "$size" -m "$count" --reps 1 --warmup "$warm" \
    --maildir "$maildir" --name pfdc | tee -a "$results"
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  "$bench/bench_smtp_e2e.py" "127.0.0.1:$port" -s "$sessions" -l "$size" -m "$count" --reps 1 --warmup "$warm" \
    --count-cmd "$count_cmd" --rcpt user@example.test --name postern | tee -a "$results"
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  awk -v a="$cpu0" -v b="$cpu1" -v n="$((count + warm))" -v hz="$(getconf CLK_TCK)" -v load="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "CPU postern_server_cpu_ms_per_message=%.2f load=%s\n", (b - a) * 1000 / hz / n, load }' | tee -a "$results"
done
stop_postern

python3 - "$results" "$sessions" "$size" "$count" <<'PY'
import re, statistics, sys
runs = {"pfdc": [], "postern": []}
for line in open(sys.argv[1]):
    m = re.match(r"RESULT (\w+)=([\d.]+)", line)
    if m and m.group(1) in runs:
        runs[m.group(1)].append(float(m.group(2)))
s, size, n = sys.argv[2:5]
def show(name, xs):
    return f"{name}: median {statistics.median(xs):.1f} msg/s (min {min(xs):.1f}, max {max(xs):.1f}) runs={[round(x, 1) for x in xs]}"
print(f"# {s} sessions, {size} B, {n} messages per run")
print(show("Postfix+Dovecot", runs["pfdc"]))
print(show("Postern", runs["postern"]))
print(f"ratio (medians): {statistics.median(runs['postern']) / statistics.median(runs['pfdc']):.2f}x")
PY
fsyncs_per_message
