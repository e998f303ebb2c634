#!/usr/bin/env python3
"""bench/report.py RAWDIR OUTJSON - the table and the JSON of a bench run.

Reads what bench/s*.sh left in RAWDIR (one directory per scenario, see
each script's head) and RAWDIR/meta (written by bench/run), prints the
table of medians, percentiles and ratios, and writes OUTJSON: the same
figures, the raw samples' summaries, the targets of issue 6 with
met/not met, the machine, the date and the load averages.

Percentiles interpolate linearly between the two nearest samples (p50 of
an even count is the mean of the middle two).
"""
import glob
import json
import math
import os
import platform
import re
import subprocess
import sys


def pct(xs, p):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt(x, unit="", nd=None):
    if x is None:
        return "-"
    if nd is None:
        nd = 0 if abs(x) >= 100 else (1 if abs(x) >= 10 else 2)
    return ("%." + str(nd) + "f%s") % (x, unit)


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def sh(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine():
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = "%.1f GiB" % (int(line.split()[1]) / 1048576)
    tmp = os.environ.get("TMPDIR", "/tmp")
    fs = sh("findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", tmp)
    disk = sh("lsblk", "-d", "-n", "-o", "NAME,SIZE,ROTA,MODEL")
    pkgs = {}
    for p in ("sks", "gnupg", "libgpgme11", "libdb5.3", "libetpan20",
              "debian-keyring", "curl", "libc6"):
        v = sh("dpkg-query", "-W", "-f", "${Version}", p)
        if v:
            pkgs[p] = v
    try:
        with open("/etc/debian_version") as f:
            deb = f.read().strip()
    except OSError:
        deb = ""
    return {"nproc": os.cpu_count(), "cpu": cpu, "ram": mem,
            "tmp_filesystem": fs, "disks": disk.splitlines(),
            "kernel": platform.release(), "debian": deb,
            "python": platform.python_version(), "packages": pkgs}


def s1(raw):
    d = os.path.join(raw, "s1_latency")
    if not os.path.isdir(d):
        return None
    out = {}
    for p in ("native", "hkp", "sks"):
        xs = []
        try:
            with open(os.path.join(d, p + ".jsonl")) as f:
                xs = [json.loads(l) for l in f if l.strip()]
        except OSError:
            continue
        ms = [x["served_ms"] for x in xs]
        out[p] = {"mails": len(xs),
                  "not_served": sum(1 for m in ms if m is None),
                  "p50_ms": pct(ms, 50), "p90_ms": pct(ms, 90),
                  "min_ms": pct(ms, 0), "max_ms": pct(ms, 100),
                  "handover_p50_ms": pct([x["handover_ms"] for x in xs], 50),
                  "samples_ms": ms}
    return out


def s2(raw):
    d = os.path.join(raw, "s2_bulk")
    if not os.path.isdir(d):
        return None
    out = {}
    for p in ("post", "native", "pksbridge", "sks"):
        j = read_json(os.path.join(d, p + ".json"))
        if j:
            out[p] = j
    return out


def s3(raw):
    d = os.path.join(raw, "s3_filter")
    if not os.path.isdir(d):
        return None
    out = {}
    with open(os.path.join(d, "sizes")) as f:
        sizes = [l.split() for l in f if l.strip()]
    for label, nbytes, nkeys in sizes:
        row = {"bytes": int(nbytes), "keys": int(nkeys)}
        for p in ("native", "pksbridge"):
            try:
                with open(os.path.join(d, "%s-%s.txt" % (label, p))) as f:
                    runs = [list(map(int, l.split())) for l in f if l.strip()]
            except OSError:
                continue
            row[p] = {"runs": len(runs),
                      "wall_ms": pct([r[0] / 1000 for r in runs], 50),
                      "cpu_ms": pct([r[1] / 1000 for r in runs], 50),
                      "rss_kb": pct([r[2] for r in runs], 50),
                      "rss_kb_max": pct([r[2] for r in runs], 100),
                      "failed": sum(1 for r in runs if r[3] != 0)}
        out[label] = row
    return out


def s4(raw):
    d = os.path.join(raw, "s4_concurrency")
    if not os.path.isdir(d):
        return None
    out = {}
    for f in sorted(glob.glob(os.path.join(d, "*-*.json"))):
        name = os.path.basename(f)[:-5]
        p, c = name.rsplit("-", 1)
        j = read_json(f)
        if j:
            out.setdefault(c, {})[p] = j
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def s5(raw):
    d = os.path.join(raw, "s5_outbound")
    if not os.path.isdir(d):
        return None
    out = {}
    for p in ("native", "pksbridge"):
        j = read_json(os.path.join(d, p + ".json"))
        if j:
            out[p] = j
    return out


def s6(raw):
    d = os.path.join(raw, "s6_replies")
    if not os.path.isdir(d):
        return None
    out = {}
    for p in ("runner", "runner4", "inline"):
        path = os.path.join(d, p + ".jsonl")
        if not os.path.exists(path):
            continue
        v = sorted(json.loads(l)["reply_ms"] for l in open(path)
                   if l.strip() and json.loads(l)["reply_ms"] is not None)
        if v:
            out[p] = {"requests": len(v), "p50_ms": pct(v, 50), "p90_ms": pct(v, 90),
                      "max_ms": v[-1]}
    for name in ("sks_load", "direct"):
        j = read_json(os.path.join(d, name + ".json"))
        if j:
            out[name] = j
    return out


def s7(raw):
    d = os.path.join(raw, "s7_policy")
    if not os.path.isdir(d):
        return None
    out = {"debian": read_json(os.path.join(d, "debian.json")), "floods": {}}
    try:
        with open(os.path.join(d, "floods")) as f:
            floods = [l.split() for l in f if l.strip()]
    except OSError:
        floods = []
    for name, certs, nbytes in floods:
        row = {"certs": int(certs), "armored_bytes": int(nbytes),
               "judge": read_json(os.path.join(d, name + "-judge.json"))}
        try:
            with open(os.path.join(d, name + "-cli.txt")) as f:
                w_, c_, r_, s_ = map(int, f.read().split())
            row["cli"] = {"wall_ms": w_ / 1000, "cpu_ms": c_ / 1000,
                          "rss_kb": r_, "status": s_}
        except (OSError, ValueError):
            pass
        out["floods"][name] = row
    return out


def s8(raw):
    """The "# bench:" lines of the tests (bench/s8_tests.sh):
    WHAT: VALUE UNIT (target <= TARGET UNIT)."""
    path = os.path.join(raw, "s8_tests", "bench.txt")
    try:
        with open(path) as f:
            lines = [l.rstrip("\n") for l in f if l.strip()]
    except OSError:
        return None
    out = []
    for l in lines:
        m = re.match(r"^(.*): ([0-9.]+) (\S+) \(target <= ([0-9.]+) \S+\)$", l)
        if m:
            out.append({"what": m.group(1), "value": float(m.group(2)),
                        "unit": m.group(3), "target": float(m.group(4))})
    return out


def main():
    raw, outjson = sys.argv[1], sys.argv[2]
    meta = read_json(os.path.join(raw, "meta.json")) or {}
    res = {"date": meta.get("date_start"), "date_end": meta.get("date_end"),
           "load": meta.get("load", {}), "knobs": meta.get("knobs", {}),
           "pksbridge": meta.get("pksbridge", {}), "machine": machine()}
    targets = []
    lines = []
    w = lines.append

    r1 = s1(raw)
    if r1:
        res["inbound_latency"] = r1
        w("1. inbound latency, MTA handover -> key served (op=get), one mail at a time")
        w("   %-28s %6s %10s %10s %12s" % ("path", "mails", "p50", "p90", "p50 / native"))
        nat = r1.get("native", {}).get("p50_ms")
        for p, name in (("native", "SKS sks_add_mail"), ("hkp", "pksbridge hkp://"),
                        ("sks", "pksbridge sks:")):
            if p in r1:
                x = r1[p]
                w("   %-28s %6d %10s %10s %12s" % (
                    name, x["mails"], fmt(x["p50_ms"], " ms"), fmt(x["p90_ms"], " ms"),
                    fmt(ratio(x["p50_ms"], nat), "", 3)))
        if "hkp" in r1 and nat:
            rr = ratio(r1["hkp"]["p50_ms"], nat)
            targets.append({"scenario": "inbound p50 mail -> served (hkp://)",
                            "target": "<= 1/20 of native (ratio <= 0.05)",
                            "measured": "%s ms vs %s ms native, ratio %s" % (
                                fmt(r1["hkp"]["p50_ms"]), fmt(nat), fmt(rr, "", 4)),
                            "met": rr is not None and rr <= 0.05 and
                            r1["hkp"]["not_served"] == 0})
        w("")

    r2 = s2(raw)
    if r2:
        res["inbound_bulk"] = r2
        post = r2.get("post", {}).get("all_served_s")
        nat = r2.get("native", {}).get("all_served_s")
        w("2. inbound bulk, one key per mail, %s at a time" %
          next(iter(r2.values())).get("parallel"))
        w("   %-28s %6s %10s %10s %8s %9s %9s %9s" % ("path", "keys", "delivery", "all served",
                                                    "served", "/ POST", "/ native", "CPU"))
        for p, name in (("post", "POST to SKS /pks/add"), ("native", "SKS sks_add_mail"),
                        ("pksbridge", "pksbridge hkp://"), ("sks", "pksbridge sks:")):
            if p in r2:
                x = r2[p]
                cpu = None
                if "sks_cpu_s" in x:
                    cpu = x["sks_cpu_s"] + x.get("handover_cpu_s", 0) + \
                        x.get("runner_cpu_s", 0)
                    x["cpu_total_s"] = round(cpu, 2)
                w("   %-28s %6d %10s %10s %8s %9s %9s %9s" % (
                    name, x["mails"], fmt(x["delivery_s"], " s"),
                    fmt(x.get("all_served_s"), " s"), "%d" % x.get("served", 0),
                    fmt(ratio(x.get("all_served_s"), post), "", 2),
                    fmt(ratio(x.get("all_served_s"), nat), "", 2),
                    fmt(cpu, " s")))
        w("   (CPU: SKS + the handover processes with their gpg children + the runner;"
          " POST: SKS only)")
        if "pksbridge" in r2:
            rr = ratio(r2["pksbridge"].get("all_served_s"), post)
            targets.append({"scenario": "bulk: all %d served" % r2["pksbridge"]["mails"],
                            "target": "<= 1.3 x SKS merging the same keys POSTed 4 at a time",
                            "measured": "%s s vs %s s POST (x%s); native %s s (x%s)" % (
                                fmt(r2["pksbridge"].get("all_served_s")), fmt(post),
                                fmt(rr, "", 2), fmt(nat),
                                fmt(ratio(r2["pksbridge"].get("all_served_s"), nat), "", 2)),
                            "met": rr is not None and rr <= 1.3})
        w("")

    r3 = s3(raw)
    if r3:
        res["filter_cost"] = r3
        w("3. filter cost per mail (medians; CPU includes children)")
        w("   %-6s %9s %5s | %9s %9s %8s | %9s %9s %8s | %7s %9s" % (
            "size", "bytes", "keys", "SKS wall", "CPU", "RSS", "pb wall", "CPU",
            "RSS", "CPU x", "RSS/mail"))
        for label, x in r3.items():
            n, p = x.get("native", {}), x.get("pksbridge", {})
            w("   %-6s %9d %5d | %9s %9s %8s | %9s %9s %8s | %7s %9s" % (
                label, x["bytes"], x["keys"], fmt(n.get("wall_ms"), " ms"),
                fmt(n.get("cpu_ms"), " ms"), fmt(n.get("rss_kb"), " K", 0),
                fmt(p.get("wall_ms"), " ms"), fmt(p.get("cpu_ms"), " ms"),
                fmt(p.get("rss_kb"), " K", 0),
                fmt(ratio(p.get("cpu_ms"), n.get("cpu_ms")), "", 1),
                # Peak RSS over mail size means something only once the
                # mail outweighs the program itself.
                fmt(ratio((p.get("rss_kb_max") or 0) * 1024, x["bytes"])
                    if x["bytes"] >= 1000000 else None, "", 2)))
        big = r3.get("16M", {})
        if "pksbridge" in big:
            rr = ratio(big["pksbridge"]["rss_kb_max"] * 1024, big["bytes"])
            targets.append({"scenario": "16 MB mail peak RSS",
                            "target": "<= 3 x mail size",
                            "measured": "%d KB for %d bytes (x%s, worst of %d runs)" % (
                                big["pksbridge"]["rss_kb_max"], big["bytes"], fmt(rr, "", 2),
                                big["pksbridge"]["runs"]),
                            "met": rr is not None and rr <= 3})
        w("")

    r4 = s4(raw)
    if r4:
        res["ingest_concurrency"] = r4
        w("4. ingest throughput, fsync on (mails/s of the delivery step)")
        w("   %-10s %12s %14s %16s" % ("processes", "SKS", "pksbridge", "all delivered"))
        for c, x in r4.items():
            w("   %-10s %12s %14s %16s" % (
                c, fmt(x.get("native", {}).get("mails_per_s")),
                fmt(x.get("pksbridge", {}).get("mails_per_s")),
                fmt(x.get("pksbridge", {}).get("drained_s"), " s")))
        if "4" in r4 and "pksbridge" in r4["4"]:
            v = r4["4"]["pksbridge"]["mails_per_s"]
            targets.append({"scenario": "ingest at 4-way concurrency, fsync on",
                            "target": ">= 100 mails/s",
                            "measured": "%s mails/s (%d mails)" % (fmt(v), r4["4"]["pksbridge"]["mails"]),
                            "met": v >= 100})
        w("")

    r5 = s5(raw)
    if r5:
        res["outbound"] = r5
        w("5. outbound, keys POSTed to SKS -> mails at the loopback SMTP server (one peer)")
        w("   %-28s %6s %6s %14s %20s" % ("path", "keys", "mails", "last accepted",
                                         "after the last POST"))
        for p, name in (("native", "SKS mailsync + submitter"),
                        ("pksbridge", "pksbridge sendmail + run")):
            if p in r5:
                x = r5[p]
                w("   %-28s %6d %6d %14s %20s" % (
                    name, x["distinct_keys_delivered"], x["mails"],
                    fmt(x["last_accepted_s"], " s"),
                    fmt(x["last_post_to_last_accepted_s"], " s")))
        if "pksbridge" in r5:
            x = r5["pksbridge"]
            want = -(-x["keys_posted"] // 100)
            targets.append({"scenario": "outbound mails for %d keys to one peer" % x["keys_posted"],
                            "target": "<= ceil(N / max_batch_keys) = %d (SKS: %s)" % (
                                want, r5.get("native", {}).get("mails", "N")),
                            "measured": "%d mails, %d of %d keys delivered" % (
                                x["mails"], x["distinct_keys_delivered"], x["keys_posted"]),
                            "met": x["mails"] <= want and
                            x["distinct_keys_delivered"] == x["keys_posted"]})
        w("")

    r6 = s6(raw)
    if r6:
        res["replies"] = r6
        w("6. replies to mail commands: GET 0x<short ID>, start of ingest -> reply accepted by the SMTP sink")
        w("   %-34s %8s %10s %10s %10s" % ("path", "requests", "p50", "p90", "max"))
        for p, name in (("runner", "runner's reply worker"),
                        ("runner4", "runner, 4 at a time"),
                        ("inline", "no runner: the filter itself")):
            if p in r6:
                x = r6[p]
                w("   %-34s %8d %10s %10s %10s" % (name, x["requests"],
                  fmt(x["p50_ms"], " ms"), fmt(x["p90_ms"], " ms"), fmt(x["max_ms"], " ms")))
        ld, dr = r6.get("sks_load"), r6.get("direct")
        if ld and dr:
            idle = ld.get("sks_cpu_s_idle_per_s", 0)
            per_r = (ld["sks_cpu_s_replies"] - idle * ld.get("replies_s", 0)) \
                * 1000 / max(ld["replies"], 1)
            per_d = (ld["sks_cpu_s_direct"] - idle * ld.get("direct_s", 0)) \
                * 1000 / max(ld["direct"], 1)
            w("   SKS CPU per reply %s, per direct op=get %s (%s; SKS idle %s/s taken off); HKP requests per reply %s"
              % (fmt(per_r, " ms"), fmt(per_d, " ms"), fmt(ratio(per_r, per_d), " x", 2),
                 fmt(idle * 1000, " ms"),
                 fmt(ld["sks_requests_counted"] / max(ld["replies_counted"], 1), "", 2)))
            w("   direct op=get latency p50 %s, p90 %s" % (fmt(dr["p50_ms"], " ms"),
                                                         fmt(dr["p90_ms"], " ms")))
        if "runner" in r6:
            v = r6["runner"]["p50_ms"]
            targets.append({"scenario": "GET reply latency, ingest -> sink, runner running",
                            "target": "p50 <= 100 ms",
                            "measured": "p50 %s, p90 %s (%d requests)" % (
                                fmt(v, " ms"), fmt(r6["runner"]["p90_ms"], " ms"),
                                r6["runner"]["requests"]),
                            "met": v <= 100})
        w("")

    r7 = s7(raw)
    if r7:
        res["policy"] = r7
        w("7. the key policy, in process (CPU of this process; peak RSS)")
        dj = r7.get("debian")
        if dj:
            w("   Debian keyring, %d keys: per key mean %s, p50 %s, p90 %s, p99 %s, max %s;"
              " %d over 1 ms; %d verifications" % (
                  dj["keys"], fmt(dj["mean_ms"], " ms", 3), fmt(dj["p50_ms"], " ms", 3),
                  fmt(dj["p90_ms"], " ms", 3), fmt(dj["p99_ms"], " ms", 3),
                  fmt(dj["max_ms"], " ms", 2), dj["over_1ms"], dj["verifications"]))
            targets.append({"scenario": "policy, an ordinary key (Debian keyring, mean)",
                            "target": "<= 1 ms CPU",
                            "measured": "%s mean, %s p50, %s p90 over %d keys" % (
                                fmt(dj["mean_ms"], " ms", 3), fmt(dj["p50_ms"], " ms", 3),
                                fmt(dj["p90_ms"], " ms", 3), dj["keys"]),
                            "met": dj["mean_ms"] <= 1.0})
        w("   %-10s %7s %10s | %11s %9s | %11s %9s | %s" % (
            "flood", "certs", "armored", "judge CPU", "RSS", "CLI CPU", "CLI RSS", "policy"))
        for name, x in r7["floods"].items():
            j, c = x.get("judge") or {}, x.get("cli") or {}
            w("   %-10s %7d %10d | %11s %9s | %11s %9s | %s" % (
                name, x["certs"], x["armored_bytes"], fmt(j.get("cpu_ms"), " ms"),
                fmt(j.get("maxrss_kb"), " K", 0), fmt(c.get("cpu_ms"), " ms"),
                fmt(c.get("rss_kb"), " K", 0), j.get("policy", "-")))
            if j and c:
                cpu_worst = max(j["cpu_ms"], c["cpu_ms"])
                rss_worst = max(j["maxrss_kb"], c["rss_kb"])
                targets.append({"scenario": "policy, a key of %d certifications (%s)" % (
                                    x["certs"], name),
                                "target": "<= 1 s CPU, <= 64 MB",
                                "measured": "judge %s / %s K; policy filter %s / %s K" % (
                                    fmt(j["cpu_ms"], " ms"), j["maxrss_kb"],
                                    fmt(c["cpu_ms"], " ms"), c["rss_kb"]),
                                "met": cpu_worst <= 1000 and rss_worst <= 65536})
        w("")

    r8 = s8(raw)
    if r8 is not None:
        res["test_speeds"] = r8
        w("8. speeds the tests measure (make check bounds them only against a hang)")
        for x in r8:
            w("   %-7s %s: %s %s (target <= %s %s)" % (
                "MET" if x["value"] <= x["target"] else "MISSED", x["what"],
                fmt(x["value"]), x["unit"], fmt(x["target"]), x["unit"]))
            targets.append({"scenario": x["what"],
                            "target": "<= %s %s" % (fmt(x["target"]), x["unit"]),
                            "measured": "%s %s" % (fmt(x["value"]), x["unit"]),
                            "met": x["value"] <= x["target"]})
        w("")

    res["targets"] = targets
    w("targets (issue 6; the key policy: issue 18)")
    for t in targets:
        w("   %-7s %s: %s; measured %s" % ("MET" if t["met"] else "MISSED",
                                          t["scenario"], t["target"], t["measured"]))
    ld = res["load"]
    w("")
    w("machine: %d cores, %s, %s RAM, kernel %s, Debian %s" % (
        res["machine"]["nproc"], res["machine"]["cpu"], res["machine"]["ram"],
        res["machine"]["kernel"], res["machine"]["debian"]))
    w("load average (1/5/15 min): start %s, end %s" % (ld.get("start", "-"), ld.get("end", "-")))
    res["table"] = lines
    print("\n".join(lines))
    os.makedirs(os.path.dirname(os.path.abspath(outjson)), exist_ok=True)
    with open(outjson, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
