#!/usr/bin/env python3
"""Idle IMAP connections over TLS with COMPRESS=DEFLATE, and IDLE notification latency under that load.

  imap_idle_tls.py HOST:PORT USER PASSWORD --pid PID [--conns 1000] [--plain] [--no-compress]
                   [--notify 100 --smtp HOST:PORT --rcpt USER]

Opens N connections (implicit TLS unless --plain), LOGINs each, sends COMPRESS DEFLATE (unless --no-compress)
and leaves them idle; then sums PSS over the server's process tree (root --pid and descendants, as
../shared/bench/bench_imap_idle.py does) and reports the growth per connection. With --notify, one more session
SELECTs INBOX and IDLEs while N deliveries go in by SMTP one after another; for each, the time from the SMTP
"250" after DATA to the "* n EXISTS" in the IDLE session is measured. Prints RESULT lines (median, p99).
"""
import argparse, os, socket, ssl, sys, time, zlib

sys.path.insert(0, os.environ.get("BENCH_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../shared/bench")))
from benchlib import hostport, log, proc_tree, mem_of  # noqa: E402


class Conn:
    def __init__(self, host, port, use_tls, timeout=30):
        raw = socket.create_connection((host, port), timeout=timeout)
        if use_tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            raw = ctx.wrap_socket(raw)
        self.s = raw
        self.buf = b""
        self.tag = 0
        self.inflate = None
        self.deflate = None
        self.line()  # greeting

    def send(self, data):
        if self.deflate:
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(data)

    def fill(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += self.inflate.decompress(chunk) if self.inflate else chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def command(self, text):
        self.tag += 1
        tag = b"t%d" % self.tag
        self.send(tag + b" " + text.encode() + b"\r\n")
        lines = []
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                if not line[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError(line.decode(errors="replace"))
                return lines
            lines.append(line)

    def compress(self):
        self.command("COMPRESS DEFLATE")
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflate = zlib.decompressobj(-15)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def smtp_deliver(host, port, rcpt, n):
    s = socket.create_connection((host, port), timeout=30)
    f = s.makefile("rb")

    def reply():
        while True:
            line = f.readline()
            if line[3:4] != b"-":
                return line

    def cmd(text):
        s.sendall(text.encode() + b"\r\n")
        return reply()

    reply()
    cmd("EHLO bench.example")
    cmd("MAIL FROM:<bench@example.org>")
    cmd(f"RCPT TO:<{rcpt}>")
    cmd("DATA")
    s.sendall(f"From: bench@example.org\r\nTo: {rcpt}\r\nSubject: notify {n}\r\n\r\nhello\r\n.\r\n".encode())
    line = reply()
    done = time.monotonic()
    if not line.startswith(b"250"):
        raise RuntimeError(line.decode(errors="replace"))
    cmd("QUIT")
    s.close()
    return done


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("target"); ap.add_argument("user"); ap.add_argument("password")
ap.add_argument("--pid", type=int, required=True)
ap.add_argument("--conns", type=int, default=1000)
ap.add_argument("--plain", action="store_true", help="no TLS")
ap.add_argument("--no-compress", action="store_true")
ap.add_argument("--settle", type=float, default=3.0)
ap.add_argument("--notify", type=int, default=0, help="deliveries to time (0: memory only)")
ap.add_argument("--smtp", default="")
ap.add_argument("--rcpt", default="")
ap.add_argument("--label", default="postern")
a = ap.parse_args()
host, port = hostport(a.target)
variant = ("plain" if a.plain else "tls") + ("" if a.no_compress else "_deflate")

time.sleep(a.settle)
n0, rss0, pss0 = mem_of(proc_tree(a.pid))
conns, t0 = [], time.monotonic()
try:
    for i in range(a.conns):
        c = Conn(host, port, not a.plain)
        c.command(f"LOGIN {a.user} {a.password}")
        if not a.no_compress:
            c.compress()
        conns.append(c)
    t_login = time.monotonic() - t0
    time.sleep(a.settle)
    for c in conns[:: max(1, len(conns) // 20)]:
        c.command("NOOP")
    n1, rss1, pss1 = mem_of(proc_tree(a.pid))
    log(f"{a.conns} {variant} connections in {t_login:.1f}s; PSS {pss0/1024:.1f} -> {pss1/1024:.1f} MiB "
        f"(+{(pss1 - pss0) / a.conns:.1f} KiB/conn), RSS {rss0/1024:.1f} -> {rss1/1024:.1f} MiB")
    print(f"RESULT {a.label}_idle_{a.conns}_{variant}_pss_per_conn={(pss1 - pss0) / a.conns:.1f} KiB "
          f"pss_total={pss1/1024:.1f}MiB pss_before={pss0/1024:.1f}MiB logins_per_s={a.conns / t_login:.0f}", flush=True)

    if a.notify:
        shost, sport = hostport(a.smtp)
        watcher = Conn(host, port, not a.plain)
        watcher.command(f"LOGIN {a.user} {a.password}")
        if not a.no_compress:
            watcher.compress()
        exists = [l for l in watcher.command("SELECT INBOX") if l.endswith(b"EXISTS")]
        count = int(exists[0].split()[1]) if exists else 0
        watcher.tag += 1
        watcher.send(b"i%d IDLE\r\n" % watcher.tag)
        while not watcher.line().startswith(b"+"):
            pass
        lat = []
        for n in range(a.notify):
            done = smtp_deliver(shost, sport, a.rcpt, n)
            while True:
                line = watcher.line()
                if line.endswith(b"EXISTS"):
                    seen = time.monotonic()
                    count = int(line.split()[1])
                    break
            lat.append((seen - done) * 1000)
        watcher.send(b"DONE\r\n")
        watcher.close()
        print(f"RESULT {a.label}_idle_notify_{variant}_at_{a.conns}_p99={pct(lat, 99):.2f} ms median={pct(lat, 50):.2f}ms "
              f"max={max(lat):.2f}ms n={len(lat)}", flush=True)
finally:
    for c in conns:
        c.close()
