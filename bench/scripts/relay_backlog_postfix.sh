#!/usr/bin/env bash
# The 100,000-message backlog of bench/scripts/relay_backlog.sh, with Postfix as the relay (for comparison): the same
# private Postfix instance as bench/scripts/relay_e2e.sh (relay_domains = customer.test, transport_maps to
# [127.0.0.1]:$SINK_PORT, otherwise defaults), the destination port closed while COUNT messages come in, then an
# smtp-sink on that port and `postqueue -f`; the time until the sink has all of them.
#
#   bench/scripts/relay_backlog_postfix.sh               # 100000 messages of 4 KiB over 20 sessions, 60 s sitting
#   COUNT=20000 SIT=10 bench/scripts/relay_backlog_postfix.sh
#
# Memory: the sum of RSS and PSS over Postfix's process tree (smaps_rollup) at the marks; queue size: du of the
# queue folders. Connection attempts to the dead server: the maillog's "connect to 127.0.0.1[127.0.0.1]:PORT:
# Connection refused" lines.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
bench=${BENCH_DIR:-$repo/../shared/bench}
count=${COUNT:-100000}
sessions=${SESSIONS:-20}
size=${SIZE:-4096}
sit=${SIT:-60}
sink_port=${SINK_PORT:-12656}
pf_port=${PF_PORT:-12659}
drain_timeout=${DRAIN_TIMEOUT:-1500}
state=$(mktemp -d /tmp/postfix-backlog.XXXXXX)
pfroot=${BENCH_STATE:-/var/tmp/mailbench}/postern-relaybench
pf=$pfroot/postfix-backlog-$$
sink_pid=
pf_started=0

cleanup() {
  if ((pf_started)); then stop_postfix; fi
  if [[ -n "$sink_pid" ]] && kill -0 "$sink_pid" 2>/dev/null; then kill -TERM "$sink_pid"; wait "$sink_pid" 2>/dev/null || true; fi
  rm -rf "$state" "$pf"
  rmdir "$pfroot" 2>/dev/null || true
}
trap cleanup EXIT
for p in "$sink_port" "$pf_port"; do
  if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p is taken" >&2; exit 1; fi
done

source bench/scripts/lib/postfix_relay.sh # the working folder is the repository's root (cd above)

mem() { # "rss_mib pss_mib processes" of Postfix's tree
  python3 -c "
import sys; sys.path.insert(0, '$bench'); from benchlib import proc_tree, mem_of
n, rss, pss = mem_of(proc_tree($(pf_master)))
print(f'rss_mib={rss / 1024:.1f} pss_mib={pss / 1024:.1f} processes={n}')"
}
now() { date +%s.%N; }
refused() { grep -c "connect to 127.0.0.1\[127.0.0.1\]:$sink_port: Connection refused" "$pf/maillog" 2>/dev/null || true; }

start_postfix
sleep 5
echo "# $(date -u '+%F %T') UTC: Postfix, $count messages of $size B over $sessions sessions to a relay domain whose server is down; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "RESULT idle $(mem)"
t0=$(now)
smtp-source -s "$sessions" -m "$count" -l "$size" -f sender@bench.test -t bob@customer.test "127.0.0.1:$pf_port" 2>"$state/source.err" || true
t1=$(now)
echo "RESULT load seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') accept_rate=$(awk -v a="$t0" -v b="$t1" -v n="$count" 'BEGIN {printf "%.0f", n / (b - a)}') msg/s $(mem) smtp_source_errors=$(wc -l <"$state/source.err") load=$(cut -d' ' -f1-3 /proc/loadavg)"
sleep "$sit"
echo "RESULT backlog after_s=$sit $(mem) queue_mib=$(du -sm "$pf/spool" | cut -f1) deferred_files=$(find "$pf/spool/deferred" -type f | wc -l) active_files=$(find "$pf/spool/active" -type f | wc -l) dead_server_attempts=$(refused)"

smtp-sink -c -u nobody "127.0.0.1:$sink_port" 1024 >"$state/sink.out" 2>&1 &
sink_pid=$!
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$sink_port") 2>/dev/null && break; sleep 0.1; done
sink_msgs() { local n; n=$(tail -c 200 "$state/sink.out" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || true); echo "${n:-0}"; }
t_flush=$(now)
postqueue -c "$pf/etc" -f
t_first=
peak=0
for i in $(seq 1 $((drain_timeout * 5))); do
  n=$(sink_msgs)
  if [[ -z "$t_first" ]] && ((n > 0)); then t_first=$(now); fi
  ((n >= count)) && break
  if ((i % 25 == 0)); then r=$(mem | sed 's/rss_mib=\([0-9.]*\).*/\1/'); peak=$(awk -v a="$peak" -v b="$r" 'BEGIN {print (b > a ? b : a)}'); fi
  sleep 0.2
done
t_done=$(now)
n=$(sink_msgs)
t_first=${t_first:-$t_done}
echo "RESULT drain delivered=$n wait_for_first_s=$(awk -v a="$t_flush" -v b="$t_first" 'BEGIN {printf "%.1f", b - a}') drain_s=$(awk -v a="$t_first" -v b="$t_done" 'BEGIN {printf "%.1f", b - a}') drain_rate=$(awk -v a="$t_first" -v b="$t_done" -v n="$n" 'BEGIN {printf "%.0f", n / (b - a)}') msg/s peak_tree_rss_mib=$peak $(mem) load=$(cut -d' ' -f1-3 /proc/loadavg)"
sleep 3
echo "RESULT end sink: $(tail -c 200 "$state/sink.out" | tr '\r' '\n' | tail -1) queue_files=$(find "$pf/spool/deferred" "$pf/spool/active" "$pf/spool/incoming" -type f | wc -l)"
