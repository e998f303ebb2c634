#!/usr/bin/env python3
"""tests/lib/pbjson.py - check and query pksbridge's JSON output for the
shell integration tests (tests/lib/sks_it.sh wraps it).

Checks (exit 0 if the output keeps the JSON contract of docs/JSON.md, else 1 with
one line per problem on stdout):
  list FILE                 `queue list --json` output: JSON Lines, every
                            field docs/JSON.md requires, with its type
  stats FILE [LIST_FILE]    `queue stats --json`; with LIST_FILE (the
                            output of `queue list --all --json` taken at the
                            same moment) the counts must match it
  show FILE ID              `queue show ID --json`: an entry plus its payload
  dedup FILE FPR            `dedup lookup FPR --json` for a known key

Queries (on `queue list --json` output; NAME=VALUE selects entries, a
VALUE of "null" matching JSON null):
  get FILE FIELD [NAME=VALUE...]  print FIELD of each entry matching all
                            selectors, one per line (null as "null", keys
                            as their fingerprints, blank-separated)
  count FILE [NAME=VALUE...] how many entries match all selectors

Consumers must ignore fields they do not know (docs/JSON.md), so extra fields are
never an error here.
"""
import json
import re
import sys

STATES = ("ready", "deferred", "held", "done", "failed", "quarantined",
          "duplicate", "suppressed", "loop", "blocked")
PENDING = ("ready", "deferred", "held")
FPR_RE = re.compile(r"^(?:[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$")


def is_int(v):
    # JSON true/false become Python bools, which are ints too.
    return isinstance(v, int) and not isinstance(v, bool)


def load_lines(path):
    """Parse JSON Lines; returns (objects, problems)."""
    objs, probs = [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                probs.append("line %d: empty line in JSON Lines output" % n)
                continue
            try:
                objs.append(json.loads(line))
            except ValueError as e:
                probs.append("line %d: not JSON (%s): %.80s" % (n, e, line))
    return objs, probs


def load_one(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    lines = [l for l in text.splitlines() if l.strip()]
    if len(lines) != 1:
        raise ValueError("expected one JSON line, got %d" % len(lines))
    return json.loads(lines[0])


def check_entry(e, where):
    """Problems with one queue entry object (docs/JSON.md field names and types)."""
    p = []
    if not isinstance(e, dict):
        return ["%s: not an object" % where]

    def need(name, ok, what):
        if name not in e:
            p.append("%s: missing field %s" % (where, name))
        elif not ok(e[name]):
            p.append("%s: %s is %r, want %s" % (where, name, e[name], what))

    need("id", lambda v: isinstance(v, str) and v != "", "a non-empty string")
    need("direction", lambda v: v in ("inbound", "outbound"),
         "inbound|outbound")
    need("state", lambda v: v in STATES, "one of " + "|".join(STATES))
    need("origin", lambda v: v in ("pks", "local"), "pks|local")
    need("kind", lambda v: v in ("sync", "reply"), "sync|reply")
    if e.get("direction") == "inbound":
        need("kind", lambda v: v == "sync", "sync for an inbound entry")
    if e.get("direction") == "inbound":
        need("peer", lambda v: v is None, "null for an inbound entry")
    elif e.get("state") in ("suppressed", "quarantined"):
        # A decision record (an echo of PKS traffic, no peers, a mail
        # without keys) may concern no peer at all: "or null" (docs/JSON.md).
        need("peer", lambda v: v is None or (isinstance(v, str) and "@" in v),
             "an address or null for a suppressed/quarantined entry")
    else:
        need("peer", lambda v: isinstance(v, str) and "@" in v,
             "an address for an outbound entry that is or was to be sent")
    need("created", lambda v: is_int(v) and v > 1000000000,
         "Unix seconds (int)")
    need("attempts", lambda v: is_int(v) and v >= 0, "an int >= 0")
    if e.get("state") in ("ready", "deferred"):
        need("next_attempt", lambda v: is_int(v) and v > 1000000000,
             "Unix seconds (int) for a pending entry")
    elif e.get("state") in STATES and e.get("state") not in PENDING:
        need("next_attempt", lambda v: v is None,
             "null for a finished entry")
    else:
        need("next_attempt", lambda v: v is None or is_int(v),
             "an int or null")
    need("last_error", lambda v: v is None or (isinstance(v, str) and v),
         "a non-empty string or null")
    need("size", lambda v: is_int(v) and v >= 0, "an int >= 0")
    need("message_id", lambda v: v is None or isinstance(v, str),
         "a string or null")
    need("keys", lambda v: isinstance(v, list), "an array")
    for i, k in enumerate(e.get("keys") or []):
        kw = "%s: keys[%d]" % (where, i)
        if not isinstance(k, dict):
            p.append("%s: not an object" % kw)
            continue
        if not isinstance(k.get("fingerprint"), str) or \
                not FPR_RE.match(k["fingerprint"]):
            p.append("%s: fingerprint is %r, want 40 or 64 hex digits" %
                     (kw, k.get("fingerprint")))
        if "uid" not in k:
            p.append("%s: missing field uid" % kw)
        elif k["uid"] is not None and not isinstance(k["uid"], str):
            p.append("%s: uid is %r, want a string or null" % (kw, k["uid"]))
        # The key policy's object, once a delivery judged the key.
        pol = k.get("policy")
        if pol is not None and (
                not isinstance(pol, dict) or
                pol.get("verdict") not in ("kept", "unjudged", "blocked",
                                           "empty", "too_large") or
                not isinstance(pol.get("kept"), int) or
                not isinstance(pol.get("dropped"), dict) or
                not all(isinstance(v, int) and v > 0
                        for v in pol["dropped"].values())):
            p.append("%s: policy is %r, want the policy object" % (kw, pol))
    return p


def cmd_list(path):
    objs, probs = load_lines(path)
    ids = set()
    for n, e in enumerate(objs, 1):
        probs += check_entry(e, "line %d" % n)
        if isinstance(e, dict) and e.get("id") in ids:
            probs.append("line %d: id %s listed twice" % (n, e.get("id")))
        if isinstance(e, dict):
            ids.add(e.get("id"))
    return probs


def cmd_stats(path, list_path=None):
    probs = []
    s = load_one(path)
    if not isinstance(s, dict):
        return ["not an object"]
    for d in ("inbound", "outbound"):
        if not isinstance(s.get(d), dict):
            probs.append("%s: missing or not an object" % d)
            continue
        for st in STATES:
            v = s[d].get(st)
            if not is_int(v) or v < 0:
                probs.append("%s.%s is %r, want an int >= 0" % (d, st, v))
    for f in ("dedup_entries", "oldest_pending_seconds"):
        if not is_int(s.get(f)) or s.get(f) < 0:
            probs.append("%s is %r, want an int >= 0" % (f, s.get(f)))
    if list_path and not probs:
        objs, lp = load_lines(list_path)
        probs += lp
        for d in ("inbound", "outbound"):
            for st in STATES:
                n = sum(1 for e in objs if e.get("direction") == d and
                        e.get("state") == st)
                if s[d][st] != n:
                    probs.append("%s.%s is %d but queue list --all shows %d"
                                 % (d, st, s[d][st], n))
        pending = [e for e in objs if e.get("state") in PENDING]
        if not pending and s["oldest_pending_seconds"] != 0:
            probs.append("oldest_pending_seconds is %d with nothing pending"
                         % s["oldest_pending_seconds"])
    return probs


def cmd_show(path, qid):
    e = load_one(path)
    probs = check_entry(e, "show")
    if isinstance(e, dict):
        if e.get("id") != qid:
            probs.append("id is %r, want %r" % (e.get("id"), qid))
        pl = e.get("payload")
        if not isinstance(pl, str) or \
                "-----BEGIN PGP PUBLIC KEY BLOCK-----" not in pl:
            probs.append("payload is not a string holding an armored key "
                         "block: %.80r" % (pl,))
    return probs


def cmd_dedup(path, fpr):
    d = load_one(path)
    probs = []
    if not isinstance(d, dict):
        return ["not an object"]
    if str(d.get("fingerprint", "")).upper() != fpr.upper():
        probs.append("fingerprint is %r, want %s" % (d.get("fingerprint"), fpr))
    if d.get("known") is not True:
        probs.append("known is %r, want true" % (d.get("known"),))
    for f in ("first_seen", "last_seen"):
        if not is_int(d.get(f)) or d.get(f) < 1000000000:
            probs.append("%s is %r, want Unix seconds" % (f, d.get(f)))
    pk = d.get("packets")
    if not isinstance(pk, list) or not pk:
        probs.append("packets is %r, want a non-empty array" % (pk,))
    return probs


def select(objs, sels):
    out = []
    for e in objs:
        ok = True
        for s in sels:
            name, _, want = s.partition("=")
            if name not in e or show_value(e[name]) != want:
                ok = False
        if ok:
            out.append(e)
    return out


def show_value(v):
    if v is None:
        return "null"
    if isinstance(v, list):
        return " ".join(k.get("fingerprint", "?") if isinstance(k, dict)
                        else str(k) for k in v)
    return str(v)


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    cmd, path = argv[1], argv[2]
    try:
        if cmd in ("list", "stats", "show", "dedup"):
            fn = {"list": cmd_list, "stats": cmd_stats, "show": cmd_show,
                  "dedup": cmd_dedup}[cmd]
            probs = fn(path, *argv[3:])
            for p in probs:
                print(p)
            return 1 if probs else 0
        objs, probs = load_lines(path)
        if probs:
            for p in probs:
                print(p)
            return 1
        if cmd == "get" and len(argv) >= 4:
            for e in select(objs, argv[4:]):
                print(show_value(e.get(argv[3])))
            return 0
        if cmd == "count":
            print(len(select(objs, argv[3:])))
            return 0
    except (OSError, ValueError, TypeError) as e:
        print("%s: %s" % (path, e))
        return 1
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
