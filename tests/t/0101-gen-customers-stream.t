#!/bin/sh
# gen-customers writes a realistic stream: 100k rows read by python3's csv
# module follow the census name weights and the requested ratios (within the
# tolerances stated below), keep emails unique per customer, and change what
# real customers change.
. "${CT_TOP:-.}/tests/lib.sh"

ok "gen-customers writes 100k rows" sh -c 'gen-customers -q --seed 11 -n 100000 \
	--customers 500000 --update-ratio 0.7 --delete-ratio 0.05 --dup-ratio 0.03 \
	--late-ratio 0.04 --foreign-ratio 0.1 --start 2026-11-22T00:00:00Z >events.csv'

cat >check.py <<'PY'
import collections, csv, functools, re, sys
names = sys.argv[2]
@functools.lru_cache(None)
def census(f):
    rows = list(csv.reader(open(f"{names}/{f}"), delimiter="\t"))[1:]
    return {r[0]: float(r[1]) for r in rows}
surnames = census("census1990_surnames_top2000.tsv")
firsts = census("census1990_first_male_top1000.tsv")
firsts.update({k: v for k, v in census("census1990_first_female_top1000.tsv").items() if k not in firsts})
ts_re = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
out = []
def check(desc, cond, detail=""):
    out.append(("ok" if cond else "not ok") + " - " + desc + ("" if cond else " # " + str(detail)))

rows = list(csv.reader(open(sys.argv[1], newline="")))
header, rows = rows[0], rows[1:]
check("the header names the ten columns of DESIGN 1", header ==
      "customer_id first_name last_name email street city state country update_timestamp op".split(), header)
bad = [r for r in rows if len(r) != 10 or not ts_re.match(r[8]) or r[9] not in ("", "D")
       or not r[0].isdigit() or not 1 <= int(r[0]) <= 500000 or "@" not in r[3]]
check("every row has ten fields, an id, an ISO 8601 time and op empty or D", not bad, bad[:3])

seen, live, latest, emails = set(), {}, {}, {}
n = dict(dup=0, delete=0, update=0, new=0, late=0, foreign=0)
wrong_change, no_change, new_first, new_last = [], 0, [], []
for r in rows:
    line = tuple(r)
    if line in seen:
        n["dup"] += 1
        continue
    seen.add(line)
    key, ts = r[0], r[8]
    owner = emails.setdefault(r[3], key)
    if owner != key:
        wrong_change.append(("email of two customers", r))
    late = key in latest and ts < latest[key]
    if late:
        n["late"] += 1
    else:
        latest[key] = ts
    if r[9] == "D":
        n["delete"] += 1
        if key not in live:
            wrong_change.append(("delete of a customer not live", r))
        if not late:
            del live[key]
        continue
    if key in live:
        n["update"] += 1
        old = live[key]
        changed = {i for i in range(1, 8) if old[i] != r[i]}
        if not changed:
            no_change += 1
        if 1 in changed or (changed & {5, 6}) and 4 not in changed:
            wrong_change.append(("first name or city changed alone", r))
    else:
        if late:
            wrong_change.append(("late event of a new customer", r))
        n["new"] += 1
        new_first.append(r[1].upper().replace("'", ""))
        new_last.append(r[2].upper().replace("'", ""))
        n["foreign"] += r[7] != "United States"
    if not late:
        live[key] = r
total = len(rows)
check("100000 rows", total == 100000, total)
def near(desc, got, want, tol):
    check(f"{desc}: {got:.4f} is within {tol} of {want}", abs(got - want) <= tol)
near("re-sends are the dup ratio of all rows", n["dup"] / total, 0.03, 0.005)
near("deletes are the delete ratio of all rows", n["delete"] / total, 0.05, 0.005)
near("updates are the update ratio of upserts", n["update"] / (n["update"] + n["new"]), 0.7, 0.01)
near("late events are the late ratio of updates and deletes", n["late"] / (n["update"] + n["delete"]), 0.04, 0.005)
near("addresses abroad are the foreign ratio of new customers", n["foreign"] / n["new"], 0.1, 0.01)
check("every update changes something", no_change == 0, no_change)
check("no email belongs to two customers; first names never change; a move changes the street with the city",
      not wrong_change, wrong_change[:3])
check("names are census names", all(f in firsts for f in new_first) and all(l in surnames for l in new_last))

# Rank bands: the share of new customers whose surname falls in each band of
# census ranks equals the band's share of the census weight within 0.01.
def bands(drawn, weights, cuts):
    ranked = sorted(weights, key=lambda k: -weights[k])
    band = {}
    for i, k in enumerate(ranked):
        band[k] = next(j for j, c in enumerate(cuts) if i < c)
    total_w = sum(weights.values())
    want = [0.0] * len(cuts)
    for k, w in weights.items():
        want[band[k]] += w / total_w
    got = [0.0] * len(cuts)
    for d in drawn:
        got[band[d]] += 1 / len(drawn)
    return got, want
got, want = bands(new_last, surnames, [1, 10, 50, 200, 500, 1000, 2000])
check("surnames follow the census weights by rank band",
      all(abs(g - w) <= 0.01 for g, w in zip(got, want)), list(zip(got, want)))
males = census("census1990_first_male_top1000.tsv")
drawn = [f for f in new_first if f in males and f not in census("census1990_first_female_top1000.tsv")]
got, want = bands(drawn, {k: v for k, v in males.items() if k not in census("census1990_first_female_top1000.tsv")},
                  [1, 10, 50, 200, 1000])
check("male first names follow the census weights by rank band",
      all(abs(g - w) <= 0.015 for g, w in zip(got, want)), list(zip(got, want)))
top = lambda f: set(sorted(census(f), key=lambda k: -census(f)[k])[:20])
top20 = top("census1990_first_male_top1000.tsv") | top("census1990_first_female_top1000.tsv")
common = [k for k, _ in collections.Counter(new_first).most_common(10)]
check("the ten commonest first names are in the census top 20 of their sex", set(common) <= top20, common)
print("\n".join(out))
PY
python3 check.py events.csv "$top/data/names" >check.out 2>&1 || echo "not ok - check.py failed: $(tail -n 3 check.out)" >>check.out
while IFS= read -r line; do
	case $line in
	"ok - "*) pass "${line#ok - }" ;;
	"not ok - "*) fail "${line#not ok - }" ;;
	*) diag "$line" ;;
	esac
done <check.out
done_testing
