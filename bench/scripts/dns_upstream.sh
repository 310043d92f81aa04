#!/usr/bin/env bash
# DNS upstream queries (issue 5): 10,000 messages to 100 internet domains through Postern to a sink; how many
# queries reach the upstream resolver, per record type (goal: about one per domain and type, i.e. ~100).
#
#   bench/scripts/dns_upstream.sh                     # 10000 messages, 100 domains, 10 submission sessions
#   COUNT=10000 DOMAINS=100 SESSIONS=10 bench/scripts/dns_upstream.sh
#   NO_SOA=1 bench/scripts/dns_upstream.sh            # negative answers without an SOA (not cacheable, RFC 2308)
#   POSTERN_DIR=/tmp/p bench/scripts/dns_upstream.sh  # use an existing self-contained publish output
#
# The upstream: bench/scripts/dns_responder.py on 127.0.0.1:$DNS_PORT (UDP; MX dN.test -> mx.dN.test,
# A mx.dN.test -> 127.0.0.1, NXDOMAIN/NODATA with an SOA for anything else, TTL 300 s), counting every query.
# Postern: Dns:Servers:0=127.0.0.1:$DNS_PORT, Delivery:MxPortOverride=$SINK_PORT (test-only: MX deliveries go to that
# port), Delivery:MtaSts and Dns:ReverseLookups as default, Security:RateLimits=false, Smtp:AuthWithoutTls=true;
# sender@bench.test is a hosted account that submits on 127.0.0.1:$SUB_PORT (bench/scripts/submit_load.py: message i
# to rcpt<i>@d<i % DOMAINS + 1>.test). The sink: smtp-sink -c on 127.0.0.1:$SINK_PORT. Needs postfix's smtp-sink, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
count=${COUNT:-10000}
domains=${DOMAINS:-100}
sessions=${SESSIONS:-10}
dns_port=${DNS_PORT:-12631}
sink_port=${SINK_PORT:-12636}
port=${PORT:-12637}
sub_port=${SUB_PORT:-12638}
https_port=${HTTPS_PORT:-12639}
state=$(mktemp -d /tmp/postern-dns.XXXXXX)
data=$state/data
stats=$state/dns-stats.json
pid=
sink_pid=
dns_pid=
password=Bench-pw-2026

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  for p in "$sink_pid" "$dns_pid"; do
    if [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
  if [[ -n "${KEEP_STATE:-}" ]]; then echo "state kept in $state" >&2; else rm -rf "$state"; fi
}
trap cleanup EXIT

for p in "$sink_port" "$port" "$sub_port" "$https_port"; do
  if ss -Hltn "sport = :$p" | grep -q .; then echo "port $p is taken" >&2; exit 1; fi
done
if ss -Hlun "sport = :$dns_port" | grep -q .; then echo "udp port $dns_port is taken" >&2; exit 1; fi

if [[ -z "${POSTERN_DIR:-}" ]]; then
  POSTERN_DIR=/tmp/postern-bench-publish
  dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained -o "$POSTERN_DIR" -nologo -v q >/dev/null
fi
bin=$POSTERN_DIR/postern

python3 "$repo/bench/scripts/dns_responder.py" --port "$dns_port" --stats "$stats" ${NO_SOA:+--no-soa} 2>"$state/dns.log" &
dns_pid=$!
smtp-sink -c -u nobody "127.0.0.1:$sink_port" 1024 >"$state/sink.out" 2>&1 &
sink_pid=$!
for _ in $(seq 1 50); do [[ -s "$stats" ]] && (exec 3<>"/dev/tcp/127.0.0.1/$sink_port") 2>/dev/null && break; sleep 0.1; done
sink_msgs() { local n; n=$(tail -c 200 "$state/sink.out" 2>/dev/null | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -1 | cut -d= -f2 || true); echo "${n:-0}"; }

"$bin" customer add Bench --data "$data" >/dev/null
"$bin" domain add bench.test --customer Bench --kind hosted --data "$data" >/dev/null
echo "$password" | "$bin" account add sender@bench.test --password-stdin --data "$data" >/dev/null

log=$state/postern.log
"$bin" run --data "$data" --set Server:AllowRoot=true --set Server:Hostname=gw.bench.test \
  --set Listeners:smtp:Address=127.0.0.1 --set Listeners:smtp:Port="$port" \
  --set Listeners:submission:Address=127.0.0.1 --set Listeners:submission:Port="$sub_port" \
  --set Listeners:submissions:Enabled=false --set Listeners:lmtp:Enabled=false \
  --set Listeners:https:Address=127.0.0.1 --set Listeners:https:Port="$https_port" \
  --set Security:RateLimits=false --set Smtp:AuthWithoutTls=true --set Smtp:GreetingDelay=00:00:00 \
  --set Dns:Servers:0="127.0.0.1:$dns_port" --set Delivery:MxPortOverride="$sink_port" \
  ${POSTERN_SET:-} >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do grep -q '^ready in' "$log" && break; sleep 0.1; done
grep -q '^ready in' "$log" || { echo "postern did not start:" >&2; cat "$log" >&2; exit 1; }
sleep 2
kill -USR1 "$dns_pid"; sleep 0.3
cp "$stats" "$state/before.json"

echo "# $(date -u '+%F %T') UTC: $count messages to $domains domains over $sessions submission sessions, load $(cut -d' ' -f1-3 /proc/loadavg)${NO_SOA:+, negative answers without SOA}"
base=$(sink_msgs)
t0=$(date +%s.%N)
python3 "$repo/bench/scripts/submit_load.py" "127.0.0.1:$sub_port" sender@bench.test "$password" -m "$count" -d "$domains" -c "$sessions"
for _ in $(seq 1 1800); do n=$(sink_msgs); ((n - base >= count)) && break; sleep 0.1; done
t1=$(date +%s.%N)
n=$(sink_msgs)
echo "sink received $((n - base)) of $count in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
sleep 3
kill -USR1 "$dns_pid"; sleep 0.3
"$bin" queue summary --data "$data" | head -8
curl -sk "https://127.0.0.1:$https_port/metrics" | grep -E '^postern_delivery_(recipients_total|destination_failures_total)' || true
grep -c 'Destination .* unreachable' "$log" | sed 's/^/log lines "unreachable": /' || true
python3 - "$state/before.json" "$stats" "$domains" <<'PY'
import collections, json, sys
before, after, domains = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), int(sys.argv[3])
print(f"queries before the load (start-up): {before['total']} {before['by_type']}")
bt = collections.Counter(after["by_type"]) - collections.Counter(before["by_type"])
bn = collections.Counter(after["by_name"]) - collections.Counter(before["by_name"])
print(f"RESULT dns_upstream_queries total={sum(bt.values())} " + " ".join(f"{t}={c}" for t, c in sorted(bt.items())))
names = collections.defaultdict(list)
for key, c in bn.items():
    t, name = key.split(" ", 1)
    names[t].append((c, name))
for t in sorted(names):
    v = sorted(names[t], reverse=True)
    print(f"  {t}: {sum(c for c, _ in v)} queries for {len(v)} names; most asked: " + ", ".join(f"{n} x{c}" for c, n in v[:4]))
PY
