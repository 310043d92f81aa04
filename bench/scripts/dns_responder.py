#!/usr/bin/env python3
"""A small authoritative DNS responder for the benchmarks (UDP, 127.0.0.1 only), stdlib only.

  MX    dN.test          -> 10 mx.dN.test
  A     mx.dN.test       -> 127.0.0.1
  anything else          -> NXDOMAIN (names not listed above) or NODATA (those names, other types),
                            with an SOA in the authority section (RFC 2308), so negative answers can be cached
TTL 300 s for everything (--ttl), negative TTL = SOA minimum = the same (--neg-ttl). --no-soa leaves the SOA out
(a negative answer then has no TTL and resolvers must not cache it).

It counts every query by type and by (type, name) and writes the counts as JSON to --stats (on SIGUSR1, on
SIGTERM/SIGINT and every second), so a benchmark reads how many upstream queries a server made.

  bench/scripts/dns_responder.py --port 12653 --stats /tmp/dns-stats.json
"""
import argparse, collections, json, os, signal, socket, struct, sys, threading, time

ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--port", type=int, default=12653)
ap.add_argument("--ttl", type=int, default=300)
ap.add_argument("--neg-ttl", type=int, default=None)
ap.add_argument("--no-soa", action="store_true")
ap.add_argument("--domains", type=int, default=100000, help="dN.test exist for 1 <= N <= this")
ap.add_argument("--stats", required=True, help="JSON file the counts are written to")
a = ap.parse_args()
neg_ttl = a.ttl if a.neg_ttl is None else a.neg_ttl

TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV", 52: "TLSA", 41: "OPT"}
by_type = collections.Counter()
by_name = collections.Counter()
lock = threading.Lock()
started = time.time()


def read_name(data, pos):
    labels = []
    while True:
        n = data[pos]
        if n == 0:
            return ".".join(labels), pos + 1
        if n & 0xC0:
            raise ValueError("compression in question")
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n


def encode_name(name):
    out = b""
    for label in name.strip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode("ascii")
    return out + b"\0"


def rr(name, rtype, ttl, rdata):
    return encode_name(name) + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def classify(name):
    """('domain', N) for dN.test, ('host', N) for mx.dN.test, else None."""
    labels = name.lower().strip(".").split(".")
    def dn(label):
        return label.startswith("d") and label[1:].isdigit() and 1 <= int(label[1:]) <= a.domains
    if len(labels) == 2 and labels[1] == "test" and dn(labels[0]):
        return "domain", ".".join(labels)
    if len(labels) == 3 and labels[0] == "mx" and labels[2] == "test" and dn(labels[1]):
        return "host", ".".join(labels[1:])
    return None


def answer(data):
    qid, flags, qd, _an, _ns, ar = struct.unpack(">HHHHHH", data[:12])
    if qd != 1:
        return None
    name, pos = read_name(data, 12)
    qtype, qclass = struct.unpack(">HH", data[pos:pos + 4])
    question = data[12:pos + 4]
    tname = TYPES.get(qtype, str(qtype))
    with lock:
        by_type[tname] += 1
        by_name[f"{tname} {name.lower()}"] += 1
    kind = classify(name)
    answers = []
    if kind and kind[0] == "domain" and qtype == 15:
        answers.append(rr(name, 15, a.ttl, struct.pack(">H", 10) + encode_name("mx." + kind[1])))
    elif kind and kind[0] == "host" and qtype == 1:
        answers.append(rr(name, 1, a.ttl, socket.inet_aton("127.0.0.1")))
    rcode = 0 if kind else 3
    authority = []
    if not answers and not a.no_soa:
        zone = kind[1] if kind else "test"
        soa = encode_name("ns." + zone) + encode_name("hostmaster." + zone) + struct.pack(">IIIII", 1, 3600, 600, 86400, neg_ttl)
        authority.append(rr(zone, 6, neg_ttl, soa))
    # EDNS0: answer with an OPT record when the query had one
    additional = []
    if ar:
        additional.append(b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0))
    rd = flags & 0x0100
    out_flags = 0x8000 | 0x0400 | rd | 0x0080 | rcode  # QR, AA, RD copied, RA
    header = struct.pack(">HHHHHH", qid, out_flags, 1, len(answers), len(authority), len(additional))
    return header + question + b"".join(answers) + b"".join(authority) + b"".join(additional)


def dump():
    with lock:
        doc = {"since": started, "total": sum(by_type.values()), "by_type": dict(by_type),
               "by_name": dict(by_name.most_common())}
    tmp = a.stats + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(tmp, a.stats)


def stop(*_):
    dump()
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGUSR1, lambda *_: dump())

def dumper():
    while True:
        time.sleep(1)
        dump()

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", a.port))
dump()
threading.Thread(target=dumper, daemon=True).start()
print(f"dns responder on 127.0.0.1:{a.port} udp, ttl {a.ttl}, negative ttl {neg_ttl}, soa {'no' if a.no_soa else 'yes'}", file=sys.stderr, flush=True)
while True:
    data, peer = sock.recvfrom(4096)
    try:
        reply = answer(data)
    except Exception as e:  # a malformed query: no answer
        print("bad query:", e, file=sys.stderr, flush=True)
        continue
    if reply:
        sock.sendto(reply, peer)
