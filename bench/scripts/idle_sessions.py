#!/usr/bin/env python3
"""Resident memory of Postern with many idle SMTP sessions (issue 4: 10,000 sessions, under 100 MB above idle).

Usually started through bench/scripts/idle_sessions.sh, which raises the open-file limit and publishes the
self-contained Release build. Per repetition, for each GC setting and each variant:

  1. start `postern run` on a fresh data folder (SMTP on --port, HTTPS /metrics on --port+18, the other
     listeners off, the connection limits raised above --sessions);
  2. wait --idle seconds, read VmRSS from /proc/PID/status ("idle");
  3. open --sessions connections from several source addresses 127.0.0.2.. (so no source runs out of
     ephemeral ports), read the 220 greeting ("greeting") or also send EHLO and read its reply ("ehlo");
  4. leave them idle --settle seconds, read VmRSS every second and keep the last value ("loaded"), check
     that every connection is still open, and read the GC figures from /metrics;
  5. close them all, wait, read VmRSS again ("closed"), stop the server.

Prints one line per run on stderr and, at the end, the median (min-max) per setting and variant of
the RSS above idle and the bytes per session, plus RESULT lines as in ../shared/bench.
"""
import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

GC_SETTINGS = {
    "workstation": {"DOTNET_gcServer": "0"},
    "server": {"DOTNET_gcServer": "1"},
}


def log(*a):
    print(time.strftime("[%H:%M:%S]"), *a, file=sys.stderr, flush=True)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def gc_figures(port):
    """GC heap size after the last collection and GC committed bytes, from /metrics (System.Runtime meter)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/metrics", context=ctx, timeout=10) as r:
            text = r.read().decode()
    except OSError as e:
        log("metrics unavailable:", e)
        return None, None, None
    heap = sum(float(m) for m in re.findall(r'^dotnet_gc_last_collection_heap_size_bytes\{[^}]*\} (\S+)$', text, re.M))
    committed = re.search(r'^dotnet_gc_last_collection_memory_committed_size_bytes (\S+)$', text, re.M)
    gcs = sum(float(m) for m in re.findall(r'^dotnet_gc_collections_total\{[^}]*\} (\S+)$', text, re.M))
    return heap, float(committed.group(1)) if committed else None, gcs


async def read_reply(reader):
    """Reads one SMTP reply (all its lines); returns the last line."""
    while True:
        line = await reader.readuntil(b"\r\n")
        if len(line) < 4 or line[3:4] != b"-":
            return line


async def open_sessions(port, n, ehlo, sources, concurrency, host="127.0.0.1"):
    conns = []
    sem = asyncio.Semaphore(concurrency)
    failures = []

    async def one(i):
        src = sources[i % len(sources)]
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, local_addr=(src, 0), limit=4096), 30)
                greeting = await asyncio.wait_for(read_reply(reader), 30)
                if not greeting.startswith(b"220"):
                    raise RuntimeError(f"greeting {greeting!r}")
                if ehlo:
                    writer.write(b"EHLO client%d.example.test\r\n" % i)
                    reply = await asyncio.wait_for(read_reply(reader), 30)
                    if not reply.startswith(b"250"):
                        raise RuntimeError(f"EHLO reply {reply!r}")
                conns.append((reader, writer))
            except Exception as e:  # noqa: BLE001 - counted and reported
                failures.append(repr(e))

    await asyncio.gather(*(one(i) for i in range(n)))
    return conns, failures


async def close_sessions(conns):
    for _, writer in conns:
        writer.transport.abort()
    await asyncio.sleep(0.5)


def start_server(binary, data, port, sessions, env_extra, logfile):
    args = [
        binary, "run", "--data", data,
        "--set", "Server:AllowRoot=true",
        "--set", "Server:Hostname=bench.example.test",
        "--set", f"Listeners:smtp:Port={port}",
        "--set", f"Listeners:smtp:MaxConnections={sessions + 1000}",
        "--set", f"Listeners:smtp:MaxConnectionsPerIp={sessions + 1000}",
        "--set", f"Listeners:https:Port={port + 18}",
        "--set", "Listeners:submission:Enabled=false",
        "--set", "Listeners:submissions:Enabled=false",
        "--set", "Listeners:lmtp:Enabled=false",
    ]
    env = dict(os.environ)
    env.update(env_extra)
    proc = subprocess.Popen(args, stdout=logfile, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"postern exited with {proc.returncode}; see {logfile.name}")
        with open(logfile.name) as f:
            if re.search(r"^ready in \d+ ms", f.read(), re.M):
                return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("postern did not become ready within 60 s")


def stop_server(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def one_run(a, gc, variant):
    tmp = tempfile.mkdtemp(prefix="postern-idle-")
    logpath = os.path.join(tmp, "postern.log")
    with open(logpath, "w") as logfile:
        proc = start_server(a.binary, os.path.join(tmp, "data"), a.port, a.sessions, GC_SETTINGS[gc], logfile)
        try:
            await asyncio.sleep(a.idle)
            idle = rss_kib(proc.pid)
            t0 = time.time()
            conns, failures = await open_sessions(a.port, a.sessions, variant == "ehlo", a.sources, a.concurrency)
            opened = time.time() - t0
            samples = []
            for _ in range(a.settle):
                await asyncio.sleep(1)
                samples.append(rss_kib(proc.pid))
            loaded = samples[-1]
            await asyncio.sleep(0)
            alive = sum(1 for r, w in conns if not r.at_eof() and not w.transport.is_closing())
            heap, committed, gcs = gc_figures(a.port + 18)
            if a.inspect:
                # e.g. a heap census of the live server; runs while the sessions are still open.
                subprocess.run(a.inspect.replace("{pid}", str(proc.pid)), shell=True, check=False)
            await close_sessions(conns)
            await asyncio.sleep(a.idle)
            closed = rss_kib(proc.pid)
        finally:
            stop_server(proc)
    if failures:
        log(f"{len(failures)} connections failed, e.g. {failures[0]}")
    if a.keep_logs:
        log("log kept in", logpath)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    delta = loaded - idle
    run = {
        "gc": gc, "variant": variant, "idle": idle, "loaded": loaded, "closed": closed, "delta": delta,
        "per_session": delta * 1024 / max(1, alive), "alive": alive, "failed": len(failures),
        "open_s": opened, "heap": heap, "committed": committed, "gcs": gcs, "max": max(samples),
    }
    heap_text = f"{heap / 2**20:.1f} MiB" if heap is not None else "n/a"
    committed_text = f"{committed / 2**20:.1f} MiB" if committed is not None else "n/a"
    log(f"{gc:11} {variant:8} idle {idle / 1024:.1f} MiB, with {alive} sessions {loaded / 1024:.1f} MiB "
        f"(peak {max(samples) / 1024:.1f}), above idle {delta / 1024:.1f} MiB = {run['per_session']:.0f} B/session; "
        f"after close {closed / 1024:.1f} MiB; GC heap at last GC {heap_text}, GC committed {committed_text}, "
        f"{gcs:.0f} GCs; opened in {opened:.1f} s, {len(failures)} failed")
    return run


def processes_named(name):
    """(count, RSS KiB, PSS KiB) summed over the processes whose command name is `name`."""
    n = rss = pss = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != name:
                    continue
            fields = {}
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("Rss", "Pss"):
                        fields[key] = int(value.split()[0])
            rss += fields["Rss"]
            pss += fields["Pss"]
            n += 1
        except (OSError, KeyError, ValueError):
            pass
    return n, rss, pss


async def peer_run(a, variant):
    """Postfix: one smtpd process per session, at most default_process_limit (100) of them; measured at that size."""
    host, _, port = a.peer.rpartition(":")
    before = processes_named("smtpd")
    conns, failures = await open_sessions(int(port), a.peer_sessions, variant == "ehlo", a.sources, a.concurrency, host)
    await asyncio.sleep(5)
    after = processes_named("smtpd")
    alive = sum(1 for r, w in conns if not r.at_eof() and not w.transport.is_closing())
    await close_sessions(conns)
    per_pss = after[2] / max(1, after[0])
    per_rss = after[1] / max(1, after[0])
    log(f"postfix     {variant:8} {alive} sessions: {after[0]} smtpd processes (before {before[0]}), "
        f"PSS {after[2] / 1024:.1f} MiB = {per_pss / 1024:.2f} MiB per process, RSS {per_rss / 1024:.2f} MiB per process; "
        f"{len(failures)} failed")
    return {"variant": variant, "alive": alive, "procs": after[0], "pss_per": per_pss, "rss_per": per_rss}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", default="/tmp/postern-idle-publish/postern", help="the published postern executable")
    p.add_argument("--sessions", type=int, default=10000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--gc", default="workstation,server", help="comma list of: " + ", ".join(GC_SETTINGS))
    p.add_argument("--variants", default="greeting,ehlo", help="comma list of: greeting, ehlo")
    p.add_argument("--port", type=int, default=12725, help="SMTP port; /metrics is served on port+18")
    p.add_argument("--idle", type=int, default=10, help="seconds after start (and after closing) before reading RSS")
    p.add_argument("--settle", type=int, default=20, help="seconds the sessions stay idle before reading RSS")
    p.add_argument("--source-count", type=int, default=20, help="source addresses 127.0.0.2 ... used by the client")
    p.add_argument("--concurrency", type=int, default=200, help="connections being opened at once")
    p.add_argument("--keep-logs", action="store_true")
    p.add_argument("--peer", help="HOST:PORT of a running Postfix smtpd (../shared/bench/peers/postfix_dovecot.sh) to measure too")
    p.add_argument("--peer-sessions", type=int, default=100, help="sessions opened to the peer (Postfix's default_process_limit is 100)")
    p.add_argument("--inspect", help="shell command run with the sessions open, after the RSS reading; {pid} is the server's pid")
    a = p.parse_args()
    a.sources = [f"127.0.0.{2 + i}" for i in range(a.source_count)]

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.sessions + 1000:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, a.sessions + 5000), hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < a.sessions + 200:
        sys.exit(f"open-file limit {soft} is too low for {a.sessions} sessions (hard limit {hard})")

    gcs = a.gc.split(",")
    variants = a.variants.split(",")
    runs = []
    peer_runs = []
    for rep in range(a.reps):
        for gc in gcs:
            for variant in variants:
                log(f"rep {rep + 1}/{a.reps}: {gc} GC, {variant}")
                runs.append(asyncio.run(one_run(a, gc, variant)))
        if a.peer:
            for variant in variants:
                peer_runs.append(asyncio.run(peer_run(a, variant)))

    print(f"{a.sessions} idle SMTP sessions, {a.reps} repetitions, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| GC | variant | idle RSS MiB | RSS with sessions MiB | above idle MiB | bytes/session | GC heap MiB | after close MiB |")
    print("|---|---|---|---|---|---|---|---|")

    def cell(values, scale=1.0, digits=1):
        v = sorted(x * scale for x in values)
        return f"**{statistics.median(v):.{digits}f}** ({v[0]:.{digits}f}–{v[-1]:.{digits}f})"

    for gc in gcs:
        for variant in variants:
            rs = [r for r in runs if r["gc"] == gc and r["variant"] == variant]
            heaps = [r["heap"] for r in rs if r["heap"] is not None]
            print(f"| {gc} | {variant} | {cell([r['idle'] for r in rs], 1 / 1024)} | {cell([r['loaded'] for r in rs], 1 / 1024)} "
                  f"| {cell([r['delta'] for r in rs], 1 / 1024)} | {cell([r['per_session'] for r in rs], 1, 0)} "
                  f"| {cell(heaps, 1 / 2**20) if heaps else 'n/a'} | {cell([r['closed'] for r in rs], 1 / 1024)} |")
            deltas = [r["delta"] / 1024 for r in rs]
            print(f"RESULT idle_sessions_{gc}_{variant}_above_idle={statistics.median(deltas):.1f} MiB "
                  f"min={min(deltas):.1f} max={max(deltas):.1f} runs=[{','.join(f'{d:.1f}' for d in deltas)}] "
                  f"alive={min(r['alive'] for r in rs)}/{a.sessions}", flush=True)
    for variant in variants:
        rs = [r for r in peer_runs if r["variant"] == variant]
        if rs:
            pss = [r["pss_per"] / 1024 for r in rs]
            print(f"Postfix smtpd, {variant}, {a.peer_sessions} sessions (one process each): PSS per session "
                  f"**{statistics.median(pss):.2f} MiB** ({min(pss):.2f}–{max(pss):.2f}), "
                  f"RSS per process {statistics.median(r['rss_per'] / 1024 for r in rs):.2f} MiB, "
                  f"alive {min(r['alive'] for r in rs)}/{a.peer_sessions}")


if __name__ == "__main__":
    main()
