#!/bin/sh
# docker/ and deploy/ cannot run here (no Docker engine, no systemd as
# PID 1), so they are linted: compose.yaml parses and hangs together, the
# image installs the run-time packages of every library the programs link,
# the systemd units pass systemd-analyze verify without a word, the
# crontab lines are well formed, every option these files give a program
# is one its --help knows, and make install puts them under PREFIX/share.
. "${CT_TOP:-.}/tests/lib.sh"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
bin=${CT_BIN:-$top/bin}

# compose.yaml: services, dependencies, volumes, variables.
cat >check_compose.py <<'PY'
import re, sys, yaml
top = sys.argv[1]
text = open(top + "/docker/compose.yaml").read()
doc = yaml.safe_load(text)
env = dict(l.split("=", 1) for l in open(top + "/docker/env.example").read().splitlines()
           if l and not l.startswith("#"))
svc = doc["services"]
fail = []
def need(cond, msg):
    if not cond:
        fail.append(msg)
for name in ("postgres", "minio", "minio-init", "gen-customers", "s3-put", "snow-load", "scd-merge"):
    need(name in svc, "no service " + name)
need(svc["postgres"]["image"] == "postgres:15", "postgres is not postgres:15")
need("mc mb" in " ".join(svc["minio-init"]["command"]), "minio-init does not create the bucket")
for name, s in svc.items():
    for dep in s.get("depends_on", {}):
        need(dep in svc, "%s depends on unknown %s" % (name, dep))
    for v in s.get("volumes", []):
        vol = v.split(":")[0]
        need(vol.startswith("/") or vol in (doc.get("volumes") or {}), "%s: undeclared volume %s" % (name, vol))
for prog in ("s3-put", "snow-load", "scd-merge"):
    need("--watch" in svc[prog]["command"], prog + " does not run with --watch")
    need(svc[prog]["command"][0] == prog, prog + " does not run " + prog)
need("--spool" in svc["s3-put"]["command"], "s3-put does not read the spool")
vols = lambda n: {v.split(":")[0] for v in svc[n].get("volumes", [])}
need("spool" in vols("gen-customers") & vols("s3-put"), "gen-customers and s3-put share no spool volume")
for prog in ("gen-customers", "s3-put", "snow-load", "scd-merge"):
    need(svc[prog].get("build", {}).get("dockerfile") == "docker/Dockerfile", prog + " is not built from docker/Dockerfile")
for var in set(re.findall(r"\$\{([A-Z_]+)", text)):
    need(var in env, "${%s} is not in env.example" % var)
# Secrets only through variables, never written in the file.
for m in re.finditer(r"(PASSWORD|SECRET[A-Z_]*):\s*(\S+)", text):
    need(m.group(2).startswith("${"), "a literal secret in compose.yaml: " + m.group(0))
print("\n".join(fail))
sys.exit(1 if fail else 0)
PY
if "$py" -c 'import yaml' 2>/dev/null; then
	ok "docker/compose.yaml parses and hangs together" "$py" check_compose.py "$top"
	sed 's/^    image: postgres:15$/    image: postgres:15\n  bogus: [/' "$top/docker/compose.yaml" >broken.yaml
	exits 1 "a broken compose file fails to parse" "$py" -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' broken.yaml
else
	pass "# SKIP PyYAML is not installed"
fi

# The Dockerfile: Debian 12, builds with make, installs with make install,
# and its run-time stage has the package of every library the programs
# link (as found on this Debian 12 machine).
df="$top/docker/Dockerfile"
ok "the image builds from debian:12 with make and make install" sh -c \
	'grep -q "^FROM debian:12 AS build" "$1" && grep -q "make -j2" "$1" && grep -q "make install DESTDIR=/out" "$1"' sh "$df"
runtime=$(sed -n '/^FROM debian:12-slim/,$p' "$df")
libs=
for t in gen-customers s3-put snow-load scd-merge; do
	[ -x "$bin/$t" ] || continue
	# The libraries the program names itself (NEEDED), where ldd finds them.
	ldd "$bin/$t" >ldd.out
	for so in $(readelf -d "$bin/$t" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
		libs="$libs $(awk -v so="$so" '$1 == so { print $3 }' ldd.out)"
	done
done
if [ -n "$libs" ] && command -v dpkg >/dev/null; then
	missing=
	for pkg in $(for l in $libs; do dpkg -S "$(readlink -f "$l")" 2>/dev/null || dpkg -S "$l"; done |
		     cut -d: -f1 | sort -u); do
		case $pkg in libc6|libgcc-s1|libstdc++6) continue ;; esac
		printf '%s\n' "$runtime" | grep -qw -- "$pkg" || missing="$missing $pkg"
	done
	is "$missing" "" "the image's run-time stage installs every library package the programs link"
else
	pass "# SKIP no program built to check the image's libraries against"
fi

# The systemd units: systemd-analyze verify, with the programs of this
# build in place of /usr/local/bin (a program not built yet: /bin/true).
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir units
	for u in "$top"/deploy/systemd/*; do
		sed "s|/usr/local/bin/\([a-z0-9-]*\)|$bin/\1|g" "$u" >"units/${u##*/}"
	done
	for t in gen-customers s3-put snow-load scd-merge; do
		[ -x "$bin/$t" ] || sed -i "s|$bin/$t|/bin/true|g" units/*
	done
	(cd units && systemd-analyze verify --man=no ./*.service ./*.timer) >verify.out 2>&1
	code=$?
	is "$code:$(cat verify.out)" "0:" "systemd-analyze verify passes every unit, without a warning"
	sed -i 's/^Restart=on-failure/Restart=sometimes/' units/customertrack-scd-merge.service
	(cd units && systemd-analyze verify --man=no ./customertrack-scd-merge.service) >verify.out 2>&1
	ok "a bad unit setting is caught" test -s verify.out
	for t in s3-put snow-load scd-merge; do
		ok "customertrack-$t.service runs $t --watch and restarts on failure" sh -c \
			'grep -q "^ExecStart=/usr/local/bin/$2 .*--watch" "$1" && grep -q "^Restart=on-failure" "$1"' \
			sh "$top/deploy/systemd/customertrack-$t.service" "$t"
	done
	for t in upload merge; do
		ok "customertrack-$t.timer starts customertrack-$t.service every minute" sh -c \
			'grep -q "^OnCalendar=minutely" "$1.timer" && grep -q "^Type=oneshot" "$1.service"' \
			sh "$top/deploy/systemd/customertrack-$t"
	done
else
	pass "# SKIP systemd-analyze is not installed"
fi

# The crontab: variable lines, comments, and five time fields + a command.
bad=$(grep -Ev '^(#.*|[A-Z_]+=.*|)$' "$top/deploy/crontab" |
      grep -Ev '^([0-9*/,-]+[[:space:]]+){5}[a-z]' || true)
is "$bad" "" "every crontab line is a comment, a variable or five fields and a command"
ok "the crontab runs the three stages" sh -c \
	'grep -q " s3-put .*--spool" "$1" && grep -q " snow-load .*&& scd-merge" "$1"' sh "$top/deploy/crontab"

# Every long option the files give a program is in its --help.
for t in gen-customers s3-put snow-load scd-merge; do
	if [ ! -x "$bin/$t" ]; then
		pass "# SKIP $t is not built"
		continue
	fi
	"$bin/$t" --help >help.out 2>&1
	opts=$(cat "$top"/deploy/crontab "$top"/deploy/systemd/* "$top"/docker/compose.yaml |
	       tr ' "[],' '\n\n\n\n\n' | awk -v t="$t" '
		$0 == t || $0 ~ "/" t "$" { on = 1; next }
		/^(gen-customers|s3-put|snow-load|scd-merge|&&|#.*)$/ || /^\// && !/^\/var/ { on = 0 }
		on && /^--[a-z]/ { sub(/=.*/, ""); print }' | sort -u)
	unknown=
	for o in $opts; do grep -q -- "$o" help.out || unknown="$unknown $o"; done
	is "$unknown" "" "the options docker/ and deploy/ give $t are in its --help"
done

# make install: docker/ and deploy/ under PREFIX/share/customertrack.
if [ -x "$bin/scd-merge" ] && [ -x "$bin/snow-load" ] && [ -x "$bin/s3-put" ] && [ -x "$bin/gen-customers" ]; then
	make -s -C "$top" install DESTDIR="$tmp/root" PREFIX=/opt/ct \
		BIN="$bin" BUILD="${CT_BUILD:-$top/build}" >install.out 2>&1
	ok "make install puts compose.yaml, the units and the crontab under PREFIX/share" test \
		-f root/opt/ct/share/customertrack/docker/compose.yaml -a \
		-f root/opt/ct/share/customertrack/deploy/crontab -a \
		-f root/opt/ct/share/customertrack/deploy/systemd/customertrack-merge.timer -a \
		-f root/opt/ct/share/customertrack/sql/snowflake/003_merge.sql
else
	pass "# SKIP the programs are not all built"
fi
done_testing
