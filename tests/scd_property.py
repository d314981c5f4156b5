#!/usr/bin/env python3
"""Property test of scd-merge against an independent replay (DESIGN §3).

Each round draws random event sequences for a few hundred keys (upserts,
deletes, resurrections, duplicates, equal re-sends, NULL and "" values,
same-instant events, late events), splits them into files with names whose
byte order differs from a locale's, and delivers the files to customer_raw
in a random order and in random batches, some files twice (a forced
reload), with load_ids that commit out of order.  After every scd-merge
run, customer and customer_history must equal the replay, computed here,
of every event delivered so far.  Each key is an independent case.

Usage: scd_property.py [--seed N] [--rounds N] [--keys N]
Needs psql and scd-merge on PATH and PG* set to an empty database.
On failure it prints the seed and the first key that differs.
"""
import argparse
import random
import re
import subprocess
import sys

COLUMNS = ["first_name", "last_name", "email", "street", "city", "state",
           "country"]
VALUES = [None, "", "a", "b", "A", "\u00fc", "x,y", 'q"q', " "]
INF = "9999-12-31 00:00:00.000000"
STATS = {"late": 0, "merges": 0}
FILE_STEMS = ["customer_20261122000000", "customer_20261122000000_1",
              "customer_20261122000000_10", "customer_20261122000000_2",
              "Customer_20261122000000", "customer-20261122000000",
              "customer_a", "customer_B", "customer__", "customer_\u00e9"]


def ts_text(t):
    """Microseconds from 2026-11-22T00:00:00Z as PostgreSQL prints them."""
    s, us = divmod(t, 1000000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return "2026-11-22 %02d:%02d:%02d.%06d" % (h, m, s, us)


def replay(events, history):
    """The reference: versions and the SCD1 row of one key's events."""
    state, versions = None, []
    for e in sorted(events, key=lambda e: (e["ts"], e["file"].encode(),
                                           e["row"], e["load"])):
        if e["del"]:
            if state is not None:
                versions[-1][2] = e["ts"]
            state = None
            continue
        vals = e["vals"]
        if state is None or any(vals[i] != state[i] for i in history):
            if state is not None:
                versions[-1][2] = e["ts"]
            versions.append([vals, e["ts"], None])
        else:
            versions[-1][0] = vals
        state = vals
    hist = [tuple(v[0]) + (ts_text(v[1]),
                           INF if v[2] is None else ts_text(v[2]),
                           v[2] is None) for v in versions]
    cust = None
    if state is not None:
        cust = tuple(versions[-1][0]) + (ts_text(versions[-1][1]),)
    return hist, cust


def csv_field(v):
    if v is None:
        return ""
    return '"' + v.replace('"', '""') + '"'


def psql(sql, stdin=None):
    r = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
                        "-f", "-"], input=sql, capture_output=True,
                       text=True)
    if r.returncode:
        sys.exit("psql failed: %s" % r.stderr)
    return r.stdout


def parse_copy(text):
    """Rows of COPY ... TO STDOUT (FORMAT csv): NULL unquoted, "" quoted."""
    rows, row, i, n = [], [], 0, len(text)
    field, quoted = [], False
    while i < n:
        c = text[i]
        if c == '"':
            quoted = True
            i += 1
            while True:
                j = text.index('"', i)
                field.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    field.append('"')
                    i = j + 2
                else:
                    i = j + 1
                    break
            continue
        if c in ",\n":
            row.append("".join(field) if field or quoted else None)
            field, quoted = [], False
            if c == "\n":
                rows.append(row)
                row = []
        else:
            field.append(c)
        i += 1
    return rows


def dump():
    cols = ", ".join(COLUMNS)
    out = psql(
        "COPY (SELECT customer_id, %s, to_char(update_timestamp AT TIME ZONE"
        " 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM customer) TO STDOUT"
        " (FORMAT csv);\n"
        "\\echo ===\n"
        "COPY (SELECT customer_id, %s, to_char(start_time AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD HH24:MI:SS.US'), to_char(end_time AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD HH24:MI:SS.US'), is_current FROM customer_history)"
        " TO STDOUT (FORMAT csv);\n" % (cols, cols))
    a, b = out.split("===\n")
    cust = {}
    for r in parse_copy(a):
        cust[int(r[0])] = tuple(r[1:])
    hist = {}
    for r in parse_copy(b):
        hist.setdefault(int(r[0]), []).append(
            tuple(r[1:-1]) + (r[-1] == "t",))
    for k in hist:
        hist[k].sort(key=lambda v: (v[7], v[8], tuple(x or "" for x in v)))
    return cust, hist


def gen_round(rng, nkeys, base_key):
    """Random events of nkeys keys, as a list of dicts without file/row."""
    events = []
    ntimes = rng.choice([3, 8, 30])
    times = sorted(rng.sample(range(0, 86400 * 1000000, 1000), ntimes))
    for k in range(base_key, base_key + nkeys):
        last = [rng.choice(VALUES) for _ in COLUMNS]
        for _ in range(rng.randint(0, 10)):
            r = rng.random()
            if r < 0.2:
                events.append({"key": k, "del": True, "vals": [None] * 7})
                continue
            if r < 0.45:
                vals = list(last)               # an equal re-send
            else:
                vals = list(last)
                for _ in range(rng.randint(1, 2)):
                    vals[rng.randrange(7)] = rng.choice(VALUES)
            last = vals
            events.append({"key": k, "del": False, "vals": vals})
        # the key's events get random times: arrival order is not time order
    for e in events:
        e["ts"] = rng.choice(times)
    # duplicates: the same event again, somewhere else
    for e in rng.sample(events, len(events) // 10):
        events.append(dict(e))
    rng.shuffle(events)
    return events


def run_round(rng, seed, rnd, nkeys, next_load):
    base_key = rnd * 100000 + 1
    events = gen_round(rng, nkeys, base_key)
    nfiles = rng.randint(2, len(FILE_STEMS))
    stems = rng.sample(FILE_STEMS, nfiles)
    files = {s + ".csv": [] for s in stems}
    names = list(files)
    for e in events:
        f = rng.choice(names)
        e["file"] = f
        e["row"] = len(files[f]) + 2
        files[f].append(e)

    # Deliveries: every file once, some twice, in random order and batches.
    order = names + rng.sample(names, rng.randint(0, len(names) // 2))
    rng.shuffle(order)
    batches, i = [], 0
    while i < len(order):
        n = rng.randint(1, 4)
        batches.append(order[i:i + n])
        i += n

    history = sorted(rng.sample(range(7), rng.choice([7, 7, 7, 3, 1])))
    psql("TRUNCATE customer, customer_history_closed, customer_raw, load_errors,"
         " load_history;")
    args = ["--history-columns", ",".join(COLUMNS[i] for i in history)]
    delivered = []
    seen = set()
    for b in batches:
        # load_ids handed out in a shuffled order, as concurrent loads
        # commit out of id order; a failed load with no rows among them
        ids = list(range(next_load, next_load + len(b) + 1))
        rng.shuffle(ids)
        next_load += len(b) + 1
        sql = ["BEGIN;", "INSERT INTO load_history (load_id, stage, file,"
               " etag, size, status) VALUES (%d, 'p', 'x%d.csv', 'e', 0,"
               " 'failed');" % (ids[-1], ids.pop())]
        for f, lid in zip(b, ids):
            # a file delivered again is a forced reload
            sql.append("INSERT INTO load_history (load_id, stage, file, etag,"
                       " size, status, forced) VALUES (%d, 'p', '%s', 'e', 0,"
                       " 'loaded', %s);" % (lid, f, str(f in seen).lower()))
            seen.add(f)
            sql.append("COPY customer_raw (customer_id, %s, update_timestamp,"
                       " op, _file, _row, _load_id) FROM STDIN (FORMAT csv);"
                       % ", ".join(COLUMNS))
            for e in files[f]:
                vals = e["vals"] if not e["del"] else [
                    rng.choice(VALUES) for _ in COLUMNS]
                op = "D" if e["del"] else rng.choice(["", "I", "U"])
                sql.append(",".join(
                    [str(e["key"])] + [csv_field(v) for v in vals] +
                    [ts_text(e["ts"]) + "+00", op, csv_field(f),
                     str(e["row"]), str(lid)]))
                delivered.append(dict(e, load=lid))
            sql.append("\\.")
        sql.append("COMMIT;")
        psql("\n".join(sql) + "\n")
        r = subprocess.run(["scd-merge"] + args, capture_output=True,
                           text=True)
        args = []
        m = re.search(r"\((\d+) late\)", r.stderr)
        STATS["late"] += int(m.group(1)) if m else 0
        STATS["merges"] += 1
        if r.returncode:
            return next_load, "scd-merge exited %d: %s" % (r.returncode,
                                                           r.stderr)
        err = compare(delivered, history, base_key, nkeys)
        if err:
            return next_load, "after %d of %d batches: %s" % (
                batches.index(b) + 1, len(batches), err)
    r = subprocess.run(["scd-merge", "--verify"], capture_output=True,
                       text=True)
    if r.returncode:
        return next_load, "--verify failed: %s" % r.stderr
    return next_load, None


def compare(delivered, history, base_key, nkeys):
    cust, hist = dump()
    per_key = {}
    for e in delivered:
        per_key.setdefault(e["key"], []).append(e)
    for k in range(base_key, base_key + nkeys):
        want_hist, want_cust = replay(per_key.get(k, []), history)
        want_hist.sort(key=lambda v: (v[7], v[8], tuple(x or "" for x in v)))
        got_hist, got_cust = hist.get(k, []), cust.get(k)
        if got_hist != want_hist or got_cust != want_cust:
            evs = sorted(per_key.get(k, []), key=lambda e: (
                e["ts"], e["file"].encode(), e["row"], e["load"]))
            lines = ["key %d differs (history columns %s)" % (
                k, [COLUMNS[i] for i in history])]
            lines += ["  event %s %s %s:%d load %d %s" % (
                ts_text(e["ts"]), "D" if e["del"] else "U", e["file"],
                e["row"], e["load"], e["vals"]) for e in evs]
            lines += ["  want history %s" % (v,) for v in want_hist]
            lines += ["  got  history %s" % (v,) for v in got_hist]
            lines += ["  want customer %s" % (want_cust,),
                      "  got  customer %s" % (got_cust,)]
            return "\n".join(lines)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int,
                    default=random.SystemRandom().randrange(1 << 30))
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--keys", type=int, default=300)
    a = ap.parse_args()
    next_load = 1000
    cases = 0
    for rnd in range(a.rounds):
        seed = a.seed + rnd
        rng = random.Random(seed)
        next_load, err = run_round(rng, seed, rnd, a.keys, next_load)
        if err:
            print("FAILED with --seed %d --rounds 1 (round %d of --seed %d)"
                  % (seed, rnd, a.seed))
            print(err)
            return 1
        cases += a.keys
    print("%d keys in %d rounds equal the replay after each of %d merges,"
          " %d late keys rebuilt (--seed %d)" % (
              cases, a.rounds, STATS["merges"], STATS["late"], a.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
