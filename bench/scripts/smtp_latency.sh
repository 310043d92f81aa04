#!/usr/bin/env bash
# SMTP latency, connect to 250 (issue 4 "Speed"): p50/p90/p99/max of one message, from the start of the connect
# to the 250 after the body, Postern against Postfix+Dovecot, interleaved on loopback (Postfix+Dovecot rep,
# Postern rep, ...). The load client is `Postern.Bench smtp-latency` (plain sockets, one message per connection,
# no pipelining, unique Message-IDs), the same for both servers.
#
#   bench/scripts/smtp_latency.sh                                   # all configs below, 3 reps each
#   CONFIGS="20x4096 100x65536" REPS=3 bench/scripts/smtp_latency.sh
#   POSTERN_DIR=/tmp/p DEADLINE=06:25 bench/scripts/smtp_latency.sh  # existing publish output; no new rep after 06:25 UTC
#
# CONFIGS: SESSIONSxBYTES items. COUNT: messages per rep (default 1000 at 1 session, else 1500); WARMUP: untimed
# messages before the first rep of each config on each server. Each rep is bounded by TIMEOUT seconds (default 85).
# RESULT lines are appended to $OUT (kept; runs with the same OUT are pooled in the table). Needs ../shared/bench
# (postfix, dovecot-lmtpd installed), python3.
# Postern: self-contained Release build, SMTP on 127.0.0.1:$PORT (default 12635) with MaxConnectionsPerIp=1000, other
# listeners off; user@example.test is a hosted account. Postfix+Dovecot: ../shared/bench/peers/postfix_dovecot.sh
# (smtpd 127.0.0.1:12525 -> LMTP -> Dovecot Maildir); its Maildir is emptied before each config. Postfix answers 250
# once the message is in its queue and delivers to Dovecot afterwards, so after each Postfix rep the script waits
# (drain_s=, at most 90 s) until the Maildir holds every accepted message, so that Postern's rep does not share the
# CPU with that backlog. Postern answers 250 after the message is in the mailbox.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
bench=${BENCH_DIR:-$repo/../shared/bench}
configs=${CONFIGS:-"20x4096 1x4096 100x4096 20x65536 1x65536 100x65536"}
reps=${REPS:-3}
port=${PORT:-12635}
warmup=${WARMUP:-300}
timeout=${TIMEOUT:-85}
deadline=${DEADLINE:-}
out=${OUT:-/tmp/postern-latency-$(date -u +%Y%m%d-%H%M%S).txt}
state=$(mktemp -d /tmp/postern-lat.XXXXXX)
data=$state/data
pid=
peer_started=0

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  if ((peer_started)); then "$bench/peers/postfix_dovecot.sh" stop >/dev/null 2>&1 || true; fi
  rm -rf "$state"
}
trap cleanup EXIT

past_deadline() {
  [[ -n "$deadline" ]] && (($(date -u +%s) >= $(date -u -d "$deadline" +%s)))
}

if [[ -z "${POSTERN_DIR:-}" ]]; then
  POSTERN_DIR=/tmp/postern-bench-publish
  dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained -o "$POSTERN_DIR" -nologo -v q >/dev/null
fi
bin=$POSTERN_DIR/postern
dotnet build bench/Postern.Bench -c Release -nologo -v q >/dev/null
client=(dotnet "$repo/bench/Postern.Bench/bin/Release/net10.0/Postern.Bench.dll" smtp-latency)

if ss -ltn | grep -q "127.0.0.1:$port "; then echo "port $port is taken" >&2; exit 1; fi
"$bin" customer add Bench --data "$data" >/dev/null
"$bin" domain add example.test --customer Bench --kind hosted --data "$data" >/dev/null
"$bin" account add user@example.test --password Bench-pw-2026 --data "$data" >/dev/null

log=$state/postern.log
"$bin" run --data "$data" --set Server:AllowRoot=true --set Server:Hostname=bench.example.test \
  --set Listeners:smtp:Address=127.0.0.1 --set Listeners:smtp:Port="$port" --set Listeners:smtp:MaxConnectionsPerIp=1000 \
  --set Listeners:submission:Port=0 --set Listeners:submissions:Port=0 --set Listeners:lmtp:Port=0 \
  --set Listeners:https:Port=0 >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '^ready in' "$log" && break; sleep 0.1; done
grep -q '^ready in' "$log" || { echo "postern did not start:" >&2; cat "$log" >&2; exit 1; }

"$bench/peers/postfix_dovecot.sh" start >&2
peer_started=1
maildir=$("$bench/peers/postfix_dovecot.sh" maildir user@example.test)
maildir_count() { { find "$maildir/new" "$maildir/cur" -type f 2>/dev/null || true; } | wc -l; }

postern_accepted=0
echo "# $(date -u '+%F %T') UTC start; configs: $configs; reps $reps; warm-up $warmup" | tee -a "$out"
for cfg in $configs; do
  sessions=${cfg%x*}
  size=${cfg#*x}
  count=${COUNT:-$((sessions == 1 ? 1000 : 1500))}
  past_deadline && { echo "# deadline reached before $cfg" | tee -a "$out"; break; }
  "$bench/peers/postfix_dovecot.sh" reset user@example.test >&2
  for rep in $(seq 1 "$reps"); do
    past_deadline && { echo "# deadline reached in $cfg before rep $rep" | tee -a "$out"; break; }
    warm=0; ((rep == 1)) && warm=$warmup
    for server in pfdc postern; do
      addr=127.0.0.1:12525; [[ $server == postern ]] && addr=127.0.0.1:$port
      load=$(cut -d' ' -f1 /proc/loadavg)
      before=$(maildir_count)
      line=$("${client[@]}" "$addr" --sessions "$sessions" --count "$count" --size "$size" --rcpt user@example.test \
        --warmup "$warm" --timeout "$timeout" --name "${server}_${sessions}_${size}" || true)
      drain=
      if [[ $server == pfdc ]]; then # let Postfix finish delivering into Dovecot before Postern's rep starts
        ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$line"); t0=$(date +%s.%N)
        for _ in $(seq 1 900); do (($(maildir_count) >= before + ${ok:-0} + warm)) && break; sleep 0.1; done
        drain=" drain_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
      fi
      if [[ $server == postern ]]; then
        ok=$(sed -n 's/.* ok=\([0-9]*\).*/\1/p' <<<"$line"); postern_accepted=$((postern_accepted + ${ok:-0} + warm))
      fi
      echo "$line load=$load rep=$rep time=$(date -u +%T)$drain" | tee -a "$out"
    done
  done
done
echo "# $(date -u '+%F %T') UTC end; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out"
# sanity check: every 250 from Postern is a message in the mailbox (warm-ups counted as if all got their 250)
stored=$(python3 -c "import sqlite3;c=sqlite3.connect('file:$data/mailbox.db?mode=ro',uri=True);print(c.execute('select coalesce(sum(message_count),0) from accounts').fetchone()[0])")
echo "# postern: $postern_accepted messages got a 250, $stored are in the mailbox" | tee -a "$out"

python3 - "$out" <<'PY'
import collections, re, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    m = re.match(r"RESULT (pfdc|postern)_(\d+)_(\d+) (.*)", line)
    if m:
        kv = dict(x.split("=", 1) for x in m.group(4).split())
        runs[(int(m.group(2)), int(m.group(3)), m.group(1))].append(kv)
def med(xs):
    return f"{statistics.median(xs):.1f} ({min(xs):.1f}–{max(xs):.1f})"
print("| S | size | Postfix+Dovecot p50 ms | Postern p50 ms | p50 ratio | Postfix+Dovecot p99 ms | Postern p99 ms | p99 ratio | msg/s P+D / Postern | reps | failed |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for s, size in sorted({(k[0], k[1]) for k in runs}, key=lambda k: (k[1], k[0])):
    a, b = runs.get((s, size, "pfdc"), []), runs.get((s, size, "postern"), [])
    if not a or not b:
        continue
    col = lambda rs, f: [float(r[f]) for r in rs]
    r50 = statistics.median(col(a, "p50_ms")) / statistics.median(col(b, "p50_ms"))
    r99 = statistics.median(col(a, "p99_ms")) / statistics.median(col(b, "p99_ms"))
    rate = f"{statistics.median(col(a, 'msg_per_s')):.0f} / {statistics.median(col(b, 'msg_per_s')):.0f}"
    failed = f"{sum(int(r['failed']) for r in a)} / {sum(int(r['failed']) for r in b)}"
    print(f"| {s} | {size // 1024} KiB | {med(col(a, 'p50_ms'))} | {med(col(b, 'p50_ms'))} | {r50:.1f}× | "
          f"{med(col(a, 'p99_ms'))} | {med(col(b, 'p99_ms'))} | {r99:.1f}× | {rate} | {len(a)}/{len(b)} | {failed} |")
print("ratio = Postfix+Dovecot / Postern (above 1: Postern answers sooner)")
PY
echo "raw results: $out" >&2
