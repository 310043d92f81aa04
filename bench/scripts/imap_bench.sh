#!/usr/bin/env bash
# IMAP against Dovecot (issue 6 "Speed"), interleaved on loopback, with ../shared/bench's scripts:
#   bench/scripts/imap_bench.sh idle      # memory of 1,000 idle logged-in connections (plaintext), both servers
#   bench/scripts/imap_bench.sh idle10k   # Postern alone at 10,000
#   bench/scripts/imap_bench.sh ops       # 100k-message folder: SELECT, FETCH FLAGS/ENVELOPE, SEARCH SUBJECT/BODY
#   bench/scripts/imap_bench.sh append    # MULTIAPPEND rate (10,000 messages per rep)
#   bench/scripts/imap_bench.sh idletls   # Postern: idle memory plaintext vs TLS+COMPRESS=DEFLATE, and IDLE
#                                         # notification latency (SMTP 250 -> * EXISTS, 100 deliveries) under that load
#   REPS=3 CONNS=1000 COUNT=100000 POSTERN_DIR=/tmp/p bench/scripts/imap_bench.sh ops
# Postern: self-contained Release publish, IMAP on 127.0.0.1:12243 (plaintext login allowed from loopback, as
# Dovecot's peer config allows it), other listeners on free ports; users as the peer's (password differs).
# Dovecot: ../shared/bench/peers/postfix_dovecot.sh on :12143. GC mode: DOTNET_gcServer (default workstation).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
bench=${BENCH_DIR:-$repo/../shared/bench}
what=${1:-idle}
reps=${REPS:-3}
conns=${CONNS:-1000}
count=${COUNT:-100000}
port=${PORT:-12243}
password=Bench-pw-2026
state=${STATE:-$(mktemp -d /tmp/postern-imap.XXXXXX)}
data=$state/data
pid=
peer_started=0

cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; fi
  if ((peer_started)); then "$bench/peers/postfix_dovecot.sh" stop >/dev/null 2>&1 || true; fi
  [[ -n "${KEEP_STATE:-}" ]] || rm -rf "$state"
}
trap cleanup EXIT

hard=$(ulimit -Hn)
want=30000
if [[ "$hard" != unlimited && "$hard" -lt "$want" ]]; then want=$hard; fi
ulimit -n "$want"

if [[ -z "${POSTERN_DIR:-}" ]]; then
  POSTERN_DIR=/tmp/postern-bench-publish
  dotnet publish src/Postern.Host -c Release -r linux-x64 --self-contained -o "$POSTERN_DIR" -nologo -v q >/dev/null
fi
bin=$POSTERN_DIR/postern

if [[ ! -d "$data" ]]; then
  "$bin" customer add Bench --data "$data" >/dev/null
  "$bin" domain add example.test --customer Bench --kind hosted --data "$data" >/dev/null
  for u in idle imap100k append; do
    "$bin" account add "$u@example.test" --password "$password" --data "$data" >/dev/null
  done
fi

start_postern() {
  local log=$state/postern.log
  : >"$log"
  "$bin" run --data "$data" --set Server:AllowRoot=true --set Server:Hostname=bench.example.test \
    --set Listeners:imap:Address=127.0.0.1 --set Listeners:imap:Port="$port" --set Listeners:imap:MaxConnectionsPerIp=20000 \
    --set Listeners:imap:MaxConnections=20000 --set Imap:MaxConnectionsPerAccount=20000 --set Security:AuthProtection=false \
    --set Listeners:imaps:Address=127.0.0.1 --set Listeners:imaps:Port="${IMAPS_PORT:-0}" --set Listeners:imaps:MaxConnectionsPerIp=20000 \
    --set Listeners:imaps:MaxConnections=20000 \
    --set Listeners:smtp:Address=127.0.0.1 --set Listeners:smtp:Port="${PSMTP_PORT:-0}" --set Listeners:submission:Port=0 --set Listeners:submissions:Port=0 \
    --set Listeners:lmtp:Port=0 --set Listeners:https:Port=0 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do grep -q '^ready in' "$log" && return 0; sleep 0.1; done
  echo "postern did not start:" >&2; cat "$log" >&2; exit 1
}
stop_postern() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
start_dovecot() { "$bench/peers/postfix_dovecot.sh" start >/dev/null; peer_started=1; }

case "$what" in
  idle)
    start_dovecot
    start_postern
    for rep in $(seq 1 "$reps"); do
      echo "== rep $rep: Dovecot" >&2
      python3 "$bench/bench_imap_idle.py" 127.0.0.1:12143 idle@example.test pass --pid "$("$bench/peers/postfix_dovecot.sh" pid)" --conns "$conns" --reps 1 | sed 's/^RESULT /RESULT dovecot_/'
      echo "== rep $rep: Postern" >&2
      python3 "$bench/bench_imap_idle.py" 127.0.0.1:$port idle@example.test "$password" --pid "$pid" --conns "$conns" --reps 1 | sed 's/^RESULT /RESULT postern_/'
    done
    ;;
  idle10k)
    start_postern
    python3 "$bench/bench_imap_idle.py" 127.0.0.1:$port idle@example.test "$password" --pid "$pid" --conns "${CONNS:-10000}" --reps "$reps" --timeout 600 | sed 's/^RESULT /RESULT postern_/'
    ;;
  ops)
    start_dovecot
    start_postern
    python3 "$bench/imap_load.py" 127.0.0.1:12143 imap100k@example.test pass "$count" >&2
    python3 "$bench/imap_load.py" 127.0.0.1:$port imap100k@example.test "$password" "$count" >&2
    for rep in $(seq 1 "$reps"); do
      python3 "$bench/bench_imap_ops.py" 127.0.0.1:12143 imap100k@example.test pass --reps 4 --label dovecot
      python3 "$bench/bench_imap_ops.py" 127.0.0.1:$port imap100k@example.test "$password" --reps 4 --label postern
    done
    ;;
  append)
    start_dovecot
    start_postern
    for rep in $(seq 1 "$reps"); do
      python3 "$bench/imap_load.py" 127.0.0.1:12143 append@example.test pass "${COUNT:-10000}" --bench-reps 1 | sed 's/^RESULT /RESULT dovecot_/'
      python3 "$bench/imap_load.py" 127.0.0.1:$port append@example.test "$password" "${COUNT:-10000}" --bench-reps 1 | sed 's/^RESULT /RESULT postern_/'
    done
    ;;
  idletls)
    IMAPS_PORT=${IMAPS_PORT:-12993} PSMTP_PORT=${PSMTP_PORT:-12625}
    export IMAPS_PORT PSMTP_PORT
    start_postern
    for rep in $(seq 1 "$reps"); do
      python3 bench/scripts/imap_idle_tls.py 127.0.0.1:$port idle@example.test "$password" --pid "$pid" --conns "$conns" --plain --no-compress \
        --notify "${NOTIFY:-100}" --smtp 127.0.0.1:$PSMTP_PORT --rcpt idle@example.test
      python3 bench/scripts/imap_idle_tls.py 127.0.0.1:$IMAPS_PORT idle@example.test "$password" --pid "$pid" --conns "$conns" \
        --notify "${NOTIFY:-100}" --smtp 127.0.0.1:$PSMTP_PORT --rcpt idle@example.test
    done
    ;;
  *) echo "unknown benchmark $what" >&2; exit 2 ;;
esac
