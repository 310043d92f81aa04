#!/usr/bin/env python3
"""Submission load for the DNS benchmark: N messages to D internet domains over C authenticated sessions.

Message i goes to rcpt<i>@d<(i % D) + 1>.test, so the first D messages already reach every domain (concurrent
cache misses) and each domain gets N / D messages. Each session logs in once (AUTH PLAIN, no TLS: the server needs
Smtp:AuthWithoutTls=true) and sends its share in one connection, a RSET-free MAIL/RCPT/DATA per message.

  bench/scripts/submit_load.py 127.0.0.1:12632 sender@bench.test PASSWORD -m 10000 -d 100 -c 10
Prints: RESULT submitted=N seconds=T rate=R msg/s failed=F
"""
import argparse, smtplib, sys, threading, time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("target")
ap.add_argument("user")
ap.add_argument("password")
ap.add_argument("-m", "--messages", type=int, default=10000)
ap.add_argument("-d", "--domains", type=int, default=100)
ap.add_argument("-c", "--sessions", type=int, default=10)
ap.add_argument("-l", "--size", type=int, default=1024, help="approximate body bytes")
a = ap.parse_args()
host, _, port = a.target.rpartition(":")
body_line = ("x" * 76 + "\r\n")
body = body_line * max(1, a.size // len(body_line))
ok = [0] * a.sessions
failed = [0] * a.sessions


def worker(k):
    s = smtplib.SMTP(host, int(port), local_hostname="client.bench.test", timeout=120)
    s.ehlo()
    s.login(a.user, a.password)
    for i in range(k, a.messages, a.sessions):
        domain = f"d{(i % a.domains) + 1}.test"
        rcpt = f"rcpt{i}@{domain}"
        msg = (f"From: <{a.user}>\r\nTo: <{rcpt}>\r\nSubject: dns bench {i}\r\n"
               f"Message-ID: <dnsbench.{i}.{int(time.time())}@bench.test>\r\n\r\n{body}")
        try:
            refused = s.sendmail(a.user, [rcpt], msg)
            if refused:
                failed[k] += 1
            else:
                ok[k] += 1
        except smtplib.SMTPException as e:
            failed[k] += 1
            if failed[k] <= 3:
                print(f"session {k}: message {i}: {e}", file=sys.stderr, flush=True)
    s.quit()


t0 = time.monotonic()
threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join()
el = time.monotonic() - t0
print(f"RESULT submitted={sum(ok)} seconds={el:.2f} rate={sum(ok) / el:.1f} msg/s failed={sum(failed)}", flush=True)
