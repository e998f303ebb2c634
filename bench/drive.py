#!/usr/bin/env python3
"""bench/drive.py - hand mails over and watch SKS serve the keys, timed.

The bench scripts (bench/s*.sh) use this where the shell is too coarse:
it starts the handover commands itself (no shell: argv lists, the mail
on stdin from its file) and polls SKS's HKP interface from the same
process, so a latency starts at the moment of the handover, not after a
process start-up.

  drive.py latency --port P --fpr FPR --mail FILE [--timeout S] -- CMD...
      Run CMD with FILE on stdin (the MTA handing the mail over) and poll
      /pks/lookup?op=get&search=0xFPR every 10 ms from that moment on.
      Prints {"handover_ms": exit of CMD, "served_ms": first 200, "rc": N}.

  drive.py bulk [--port P] --list FILE --parallel N [--post]
                [--settle S] [--timeout S] [-- CMD...]
      FILE has "FPR PATH" lines.  Hand over every PATH, N at a time: with
      CMD, run CMD with PATH on stdin; with --post, POST the armored key
      in PATH to SKS's /pks/add.  With --port, poll SKS (op=index) until
      every FPR is served, or until nothing new was served for S seconds
      after the last handover.  Prints one JSON object (see the end).

  drive.py reply --list FILE --sink DIR --first N [--pause S] [--timeout S]
                 [--parallel K] -- CMD...
      FILE has "FPR ..." lines.  For each, run CMD with a mail command
      "GET 0x<last 8 hex digits>" on stdin (a gpg1-style request, as the
      MTA hands it over), and wait until the SMTP sink storing into DIR
      has its next message (DIR/msg.N, msg.N+1, ...: smtpsink renames it
      there once it accepted the mail).  Prints one JSON line per request:
      {"reply_ms": the sink file's mtime minus the wall clock just before
      CMD started, "ingest_ms": CMD's run, "rc": N}.  K at a time: the
      requests of a round start together, each waits for its own reply
      (any of the round's messages counts).

Times are seconds (or ms) from the first handover, CLOCK_MONOTONIC; the
reply latency uses the wall clock, which the sink's file times use.
"""
import argparse
import http.client
import json
import resource
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor


def now():
    return time.monotonic()


def hkp(port, path, body=None, timeout=900):
    """One HKP request; returns the HTTP status (0: no answer)."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        if body is None:
            c.request("GET", path)
        else:
            c.request("POST", path, body,
                      {"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status
    except (OSError, http.client.HTTPException):
        return 0


def served(port, fpr, op="index"):
    q = "op=%s&options=mr&search=0x%s" % (op, fpr)
    return hkp(port, "/pks/lookup?" + q) == 200


def run_handover(cmd, path):
    with open(path, "rb") as f:
        return subprocess.run(cmd, stdin=f, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode


def post_key(port, path):
    with open(path, "rb") as f:
        body = "keytext=" + urllib.parse.quote_plus(f.read().decode("ascii"))
    st = hkp(port, "/pks/add", body.encode("ascii"), timeout=900)
    return 0 if st == 200 else st or 1


def latency(a):
    t0 = now()
    with open(a.mail, "rb") as f:
        p = subprocess.Popen(a.cmd, stdin=f, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    handover = None
    served_at = None
    deadline = t0 + a.timeout
    while now() < deadline:
        if handover is None and p.poll() is not None:
            handover = now() - t0
        if served(a.port, a.fpr, "get"):
            served_at = now() - t0
            break
        time.sleep(0.01)
    rc = p.wait()
    if handover is None:
        handover = now() - t0
    out = {"handover_ms": round(handover * 1000, 1),
           "served_ms": None if served_at is None else round(served_at * 1000, 1),
           "rc": rc}
    print(json.dumps(out))
    return 0 if served_at is not None and rc == 0 else 1


def bulk(a):
    items = []
    with open(a.list) as f:
        for line in f:
            w = line.split()
            if len(w) >= 2:
                items.append((w[0].upper(), w[1]))
    if not a.post and not a.cmd:
        sys.exit("bulk: a CMD or --post is needed")
    rcs = []
    done = threading.Event()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = now()
    delivered_at = [None]

    def one(item):
        if a.post:
            return post_key(a.port, item[1])
        return run_handover(a.cmd, item[1])

    def deliver_all():
        with ThreadPoolExecutor(max_workers=a.parallel) as ex:
            rcs.extend(ex.map(one, items))
        delivered_at[0] = now() - t0
        done.set()

    th = threading.Thread(target=deliver_all)
    th.start()
    out = {"mails": len(items), "parallel": a.parallel}
    if a.port:
        remaining = [fpr for fpr, _ in items]
        last_ok = None		# time of the last key seen served
        last_miss = 0.0		# the last miss before it
        last_sweep = now()
        requests = 0
        deadline = t0 + a.timeout
        quiet = 0.0		# responsive, nothing new, since last_ok
        while remaining and now() < deadline:
            if done.is_set() and quiet > a.settle:
                break
            requests += 1
            t1 = now()
            ok = served(a.port, remaining[0])
            took = now() - t1
            if ok:
                remaining.pop(0)
                last_ok = now() - t0
                quiet = 0.0
                continue
            t = now() - t0
            last_miss = t
            # SKS answers nothing while it merges: a slow answer means
            # work is going on, not that the keys are lost.
            quiet = 0.0 if took > 1.0 or not done.is_set() \
                else quiet + took + 0.05
            # A key that never gets served must not hide the others:
            # every 2 s look at all that are left.
            if now() - last_sweep > 2.0:
                keep = []
                for fpr in remaining:
                    requests += 1
                    if served(a.port, fpr):
                        last_ok = now() - t0
                        quiet = 0.0
                    else:
                        keep.append(fpr)
                        last_miss = now() - t0
                remaining = keep
                last_sweep = now()
                continue
            time.sleep(0.05)
        out.update({"served": len(items) - len(remaining),
                    "not_served": remaining[:20],
                    "all_served_s": None if remaining or last_ok is None
                    else round(last_ok, 2),
                    "last_served_s": None if last_ok is None else round(last_ok, 2),
                    "all_served_lower_bound_s": None if last_ok is None or not last_miss
                    else round(min(last_miss, last_ok), 2),
                    "poll_requests": requests})
    th.join()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU of the handover processes and everything they waited for (gpg).
    out["handover_cpu_s"] = round(ru1.ru_utime + ru1.ru_stime -
                                  ru0.ru_utime - ru0.ru_stime, 2)
    out["delivery_s"] = round(delivered_at[0], 2)
    out["failed_handovers"] = sum(1 for r in rcs if r != 0)
    out["mails_per_s"] = round(len(items) / max(delivered_at[0], 1e-6), 1)
    print(json.dumps(out))
    return 0


def request_mail(fpr, n):
    return ("Return-Path: <bench%d@client.test>\n"
            "From: bench%d@client.test\n"
            "To: pgp-public-keys@bridge.test\n"
            "Subject: GET 0x%s\n"
            "Message-ID: <bench.%d.%d@client.test>\n\n"
            "GnuPG 1.4.23 email keyserver request\n" %
            (n % 97, n % 97, fpr[-8:].upper(), n, int(time.time()))).encode()


def reply(a):
    import os
    fprs = []
    with open(a.list) as f:
        for line in f:
            w = line.split()
            if w:
                fprs.append(w[0])
    n = a.first
    bad = 0
    for r in range(0, len(fprs), a.parallel):
        batch = fprs[r:r + a.parallel]
        procs = []
        for i, fpr in enumerate(batch):
            t0w = time.time_ns()
            t0 = now()
            p = subprocess.Popen(a.cmd, stdin=subprocess.PIPE,
                                 stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            p.stdin.write(request_mail(fpr, n + i))
            p.stdin.close()
            procs.append((p, t0w, t0))
        targets = [os.path.join(a.sink, "msg.%d" % (n + i))
                   for i in range(len(batch))]
        deadline = now() + a.timeout
        ingest = [None] * len(batch)
        while now() < deadline:
            for i, (p, _, t0) in enumerate(procs):
                if ingest[i] is None and p.poll() is not None:
                    ingest[i] = now() - t0
            if all(os.path.exists(t) for t in targets) and \
                    all(x is not None for x in ingest):
                break
            time.sleep(0.001)
        # Each reply is the earliest message not yet given to an earlier
        # request of the round (they may arrive in any order).
        mtimes = sorted(os.stat(t).st_mtime_ns for t in targets
                        if os.path.exists(t))
        for i, (p, t0w, t0) in enumerate(procs):
            rc = p.wait()
            got = mtimes[i] if i < len(mtimes) else None
            if got is None or rc != 0:
                bad += 1
            print(json.dumps({
                "reply_ms": None if got is None else round((got - t0w) / 1e6, 2),
                "ingest_ms": None if ingest[i] is None else round(ingest[i] * 1000, 2),
                "rc": rc}))
            sys.stdout.flush()
        n += len(batch)
        time.sleep(a.pause)
    return 1 if bad else 0


def main():
    argv = sys.argv[1:]
    cmd = []
    if "--" in argv:
        i = argv.index("--")
        argv, cmd = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(prog="drive.py")
    sub = ap.add_subparsers(dest="what", required=True)
    la = sub.add_parser("latency")
    la.add_argument("--port", type=int, required=True)
    la.add_argument("--fpr", required=True)
    la.add_argument("--mail", required=True)
    la.add_argument("--timeout", type=float, default=60)
    bu = sub.add_parser("bulk")
    bu.add_argument("--port", type=int, default=0)
    bu.add_argument("--list", required=True)
    bu.add_argument("--parallel", type=int, default=4)
    bu.add_argument("--post", action="store_true")
    bu.add_argument("--settle", type=float, default=25)
    bu.add_argument("--timeout", type=float, default=900)
    re_ = sub.add_parser("reply")
    re_.add_argument("--list", required=True)
    re_.add_argument("--sink", required=True)
    re_.add_argument("--first", type=int, default=1)
    re_.add_argument("--pause", type=float, default=0.05)
    re_.add_argument("--timeout", type=float, default=30)
    re_.add_argument("--parallel", type=int, default=1)
    a = ap.parse_args(argv)
    a.cmd = cmd
    if a.what == "latency":
        if not cmd:
            ap.error("latency needs -- CMD")
        return latency(a)
    if a.what == "reply":
        if not cmd:
            ap.error("reply needs -- CMD")
        return reply(a)
    return bulk(a)


if __name__ == "__main__":
    sys.exit(main())
