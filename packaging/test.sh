#!/usr/bin/env bash
# packaging/test.sh (make package-test) checks the smsd .debs as a clinic's Pi
# would meet them. It builds them itself, so it needs nothing from an earlier
# step, and it can be rerun at will (each run works in its own temp dir; the
# only thing kept between runs is a cached Debian root under $CACHE).
#
# Sections (each prints what it checks, then PASS, FAIL or SKIP with a reason):
#   version    git describe -> Debian version mapping, and its sort order
#   build      build-deb.sh for amd64, arm64, armhf into dist/
#   repro      a second build gives byte-identical .debs
#   contents   paths, modes, owners, conffiles, control fields, ELF arch,
#              GOARM=7, copyright covering every Go module in the binary
#   conffile   smsd.toml parses with package config; commented values = defaults
#   man        smsd(8) documents every command of `smsd help`, no groff warnings
#   lintian    no errors, no warnings, on every .deb
#   systemd    systemd-analyze verify is clean; security exposure <= 2.0
#   udev       the modem rule parses (udevadm test in a private mount namespace)
#   qemu       arm64/armhf binaries under qemu-user-static: smsd version, and a
#              real send (smsd serve + smsd send against smsd emulator)
#   install    a throwaway Debian bookworm root: dpkg -i, user, dirs, modes,
#              keys, conffile; reinstall; upgrade keeps data and config (a
#              changed smsd.toml lands beside the admin's as .dpkg-dist);
#              dpkg -r keeps data; dpkg -P removes it
#
# Exit status: 0 when nothing failed (SKIPs are listed at the end, each with
# what to install), 1 otherwise. Environment:
#   CACHE=/var/cache/smsd-test   where the bookworm root tarball is kept
#   MIRROR=http://deb.debian.org/debian   where debootstrap fetches it (first run)
#   SMSD_PACKAGE_TEST_ONLY="lintian systemd"   run only these sections (build always runs)
#   SMSD_PACKAGE_TEST_ARCHES="amd64"   build only these (default amd64 arm64 armhf)
#   SMSD_REPRO_COLD=1   the repro build starts from an empty Go build cache
#   SMSD_REQUIRE_REAL_PARTS=1   a skipped section is a failure (make test as root)
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"
export LC_ALL=C TZ=UTC
cd "$top"

CACHE=${CACHE:-/var/cache/smsd-test}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT_TARBALL="$CACHE/bookworm-minbase-adduser.tar.zst"
EXPOSURE_MAX=2.0
read -r -a ARCHES <<<"${SMSD_PACKAGE_TEST_ARCHES:-amd64 arm64 armhf}"

t_start=$SECONDS
failures=() skips=() notes=()
work=$(mktemp -d "${TMPDIR:-/tmp}/smsd-pkgtest.XXXXXX")
mounts=()
cleanup() {
	local m
	for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done
	[ -n "${emu_pid:-}" ] && kill "$emu_pid" 2>/dev/null
	[ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

section() { printf '\n== %s\n' "$*"; s_start=$SECONDS; }
section_end() { printf '   (%d s)\n' $((SECONDS - s_start)); }
pass() { printf '  PASS %s\n' "$*"; }
fail() { printf '  FAIL %s\n' "$*"; failures+=("$*"); }
skip() { printf '  SKIP %s\n' "$*"; skips+=("$*"); }
note() { printf '  NOTE %s\n' "$*"; notes+=("$*"); }
want() { # want SECTION: true when the section should run
	[ -z "${SMSD_PACKAGE_TEST_ONLY:-}" ] && return 0
	[[ " $SMSD_PACKAGE_TEST_ONLY " == *" $1 "* ]]
}
# need TOOL PACKAGE: true when TOOL is on PATH, else says what to install.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	skip "$1 is missing: apt-get install $2"
	return 1
}

raw=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
debver=$("$here/build-deb.sh" --deb-version "$raw")
DIST="$top/dist"
deb() { echo "$DIST/smsd_${debver}_$1.deb"; }
echo "package-test: smsd $raw -> Debian version $debver; work dir $work"

# --- helpers for the qemu and install sections ------------------------------------

# wait_for SECONDS CMD...: polls CMD every 0.5 s until it succeeds or time is up.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.5
	done
}

# qemu_send ARCH RUN...: a real send with the ARCH binary under qemu: the
# emulated modem (native amd64 smsd emulator) on a pty, smsd serve under qemu
# driving it, smsd send (under qemu) enqueueing through the daemon, and the
# daemon's status showing the message sent.
qemu_send() {
	local a=$1
	shift
	local run=("$@") d="$work/send.$a" native="$work/x.amd64/usr/bin/smsd"
	mkdir -p "$d" && install -d -m 0700 "$d/data"
	if ! "${run[@]}" init -data-dir "$d/data" >"$d/init.log" 2>&1; then
		fail "$a: smsd init under qemu failed"; sed 's/^/       | /' "$d/init.log"; return
	fi
	"$native" emulator -link "$d/tty" </dev/null >"$d/emu.log" 2>&1 &
	emu_pid=$!
	if ! wait_for 20 test -e "$d/tty"; then
		fail "$a: smsd emulator made no link $d/tty in 20 s"; sed 's/^/       | /' "$d/emu.log"; kill "$emu_pid"; emu_pid=; return
	fi
	"${run[@]}" serve -config /dev/null -data-dir "$d/data" -modem "$d/tty" -listen 127.0.0.1:0 </dev/null >"$d/serve.log" 2>&1 &
	serve_pid=$!
	# status falls back to reading the store when no daemon answers: wait for
	# "running": true, i.e. the daemon itself answering on its control socket.
	if ! wait_for 90 sh -c '"$@" status -json -data-dir "$0" | grep -Eq "\"running\": *true"' "$d/data" "${run[@]}"; then
		fail "$a: smsd serve under qemu did not answer smsd status in 90 s"; tail -20 "$d/serve.log" | sed 's/^/       | /'
	elif ! "${run[@]}" send -data-dir "$d/data" -to +15551234567 -text "package-test $a" >"$d/send.log" 2>&1; then
		fail "$a: smsd send under qemu failed"; sed 's/^/       | /' "$d/send.log"
	elif ! wait_for 90 grep -q "handset: .*package-test $a" "$d/emu.log"; then
		fail "$a: the emulated handset did not receive the message within 90 s"; "${run[@]}" status -data-dir "$d/data" 2>&1 | sed 's/^/       | /'; tail -20 "$d/serve.log" | sed 's/^/       | /'
	elif ! wait_for 30 sh -c '"$@" status -json -data-dir "$0" | grep -Eq "\"(sent|delivered)\": *1"' "$d/data" "${run[@]}"; then
		fail "$a: the handset got the message but the queue does not show it sent"; "${run[@]}" status -json -data-dir "$d/data" 2>&1 | sed 's/^/       | /'
	else
		pass "$a: smsd serve + smsd send under ${run[0]}: the emulated handset got '$(grep -o "package-test $a" "$d/emu.log" | head -1)', queue shows it sent"
		[ "$(grep -c "handset: .*package-test $a" "$d/emu.log")" = 1 ] && pass "$a: delivered exactly once" || fail "$a: the handset got the message $(grep -c "package-test $a" "$d/emu.log") times"
	fi
	kill -TERM "$serve_pid" 2>/dev/null
	if wait_for 20 sh -c "! kill -0 $serve_pid"; then
		wait "$serve_pid"; local rc=$?
		[ $rc = 0 ] && pass "$a: smsd serve stopped cleanly on SIGTERM" || fail "$a: smsd serve exited $rc on SIGTERM"
	else
		fail "$a: smsd serve still running 20 s after SIGTERM"; kill -KILL "$serve_pid"
	fi
	serve_pid=
	kill "$emu_pid" 2>/dev/null; wait "$emu_pid" 2>/dev/null; emu_pid=
}

# The install section's root and helpers.
R=""
in_root() { chroot "$R" "$@"; }
# data_sums: one line per file in the data directory with its sha256, so a
# change to any key or to the database shows up.
data_sums() { in_root sh -c 'cd /var/lib/smsd 2>/dev/null && find . -type f | sort | xargs -r sha256sum'; }

# expect_installed VERSION: user, directories, modes, keys, conffile, unit.
expect_installed() {
	local v=$1 st pw
	st=$(in_root dpkg-query -W -f '${Status} ${Version}' smsd 2>&1)
	[ "$st" = "install ok installed $v" ] && pass "dpkg: $st" || fail "dpkg status '$st', want 'install ok installed $v'"
	pw=$(in_root getent passwd smsd)
	IFS=: read -r _ _ uid gid _ home shell <<<"$pw"
	if [ -n "$pw" ] && [ "$uid" -lt 1000 ] && [ "$home" = /var/lib/smsd ] && [ "$shell" = /usr/sbin/nologin ]; then
		pass "user smsd: system uid $uid, home $home, shell $shell"
	else
		fail "user smsd: '$pw' (want a system uid < 1000, home /var/lib/smsd, shell /usr/sbin/nologin)"
	fi
	local groups
	groups=$(in_root id -nG smsd 2>&1)
	if [ "$v" = "$debver" ]; then
		# The modem is smsd-modem's, not dialout's; smsd-admin gets the socket.
		[[ " $groups " == " smsd "* && " $groups " == *" smsd-modem "* && " $groups " == *" smsd-admin "* && " $groups " != *" dialout "* ]] &&
			pass "groups of smsd: $groups (smsd-modem and smsd-admin, no longer dialout)" || fail "groups of smsd: '$groups' (want smsd first, smsd-modem, smsd-admin, and not dialout)"
	else
		[[ " $groups " == " smsd "* ]] && pass "groups of smsd ($v): $groups" || fail "groups of smsd ($v): '$groups' (want smsd first)"
	fi
	local m
	m=$(in_root stat -c '%a %U:%G' /var/lib/smsd 2>&1)
	[ "$m" = "700 smsd:smsd" ] && pass "/var/lib/smsd: $m" || fail "/var/lib/smsd: '$m', want '700 smsd:smsd'"
	local files bad
	files=$(in_root find /var/lib/smsd -mindepth 1 -printf '%m %u:%g %p\n' 2>&1)
	# Regular files (keys, database): owned by smsd, nothing for group or other.
	bad=$(in_root find /var/lib/smsd -mindepth 1 \( ! -user smsd -o ! -group smsd -o \( -type f -perm /077 \) \) -printf '%m %u:%g %p\n' 2>&1)
	if [ -n "$files" ] && [ -z "$bad" ]; then
		pass "keys and database exist, owned by smsd, no access for others: $(awk '{print $3" "$1}' <<<"$files" | tr '\n' ' ')"
	else
		fail "data directory contents wrong (want files owned smsd:smsd, no 'other' access): ${files:-empty}"
	fi
	m=$(in_root stat -c '%a %U:%G' /etc/smsd/smsd.toml 2>&1)
	[ "$m" = "640 root:smsd" ] && pass "conffile /etc/smsd/smsd.toml: $m" || fail "/etc/smsd/smsd.toml: '$m', want '640 root:smsd'"
	in_root dpkg-query -W -f '${Conffiles}\n' smsd | grep -q '^ /etc/smsd/smsd.toml ' && pass "dpkg knows /etc/smsd/smsd.toml as a conffile" || fail "/etc/smsd/smsd.toml is not a registered conffile"
	local link
	link=$(in_root readlink /etc/systemd/system/multi-user.target.wants/smsd.service)
	[ "$link" = /lib/systemd/system/smsd.service ] && pass "unit enabled (multi-user.target.wants -> $link)" || fail "unit not enabled: multi-user.target.wants/smsd.service -> '$link'"
	local vv
	vv=$(in_root /usr/bin/smsd version 2>&1)
	[[ $vv == "smsd $v "* ]] && pass "smsd version in the bookworm root: $vv" || fail "smsd version in the root: '$vv'"
}

# attack_test: a second Unix user against the packaged layout, as an
# attacker would go at it, and an admin in smsd-admin as the README says to
# work. There is no systemd in the root, so this does what the unit does
# before ExecStart (RuntimeDirectory=smsd: /run/smsd 0750 smsd:smsd; User=
# smsd with its groups) and starts smsd serve itself.
attack_test() {
	echo "   -- a second Unix user against the packaged layout (socket, modem, actor)"
	as_user() { local u=$1; shift; in_root setpriv --reuid="$u" --regid="$u" --init-groups --reset-env "$@"; }
	# mallory: an ordinary user, in dialout as a Pi's first user is. alice:
	# an administrator, added to smsd-admin as the next steps say.
	in_root adduser --quiet --disabled-password --gecos "" mallory >/dev/null 2>&1
	in_root adduser --quiet mallory dialout >/dev/null 2>&1
	in_root adduser --quiet --disabled-password --gecos "" alice >/dev/null 2>&1
	in_root adduser --quiet alice smsd-admin >/dev/null 2>&1
	in_root id mallory >/dev/null 2>&1 && in_root id alice >/dev/null 2>&1 || { fail "could not create the users mallory and alice in the root"; return; }

	in_root install -d -m 0750 -o smsd -g smsd /run/smsd
	# The built-in emulated modem (a pty: a devpts of the root's own), so the
	# daemon sends and logs what it sent.
	mkdir -p "$R/dev/pts"
	if mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$R/dev/pts"; then
		mounts=("$R/dev/pts" "${mounts[@]}")
		rm -f "$R/dev/ptmx" && ln -s pts/ptmx "$R/dev/ptmx"
	fi
	chroot "$R" setpriv --reuid=smsd --regid=smsd --init-groups --reset-env /usr/bin/smsd serve -config /etc/smsd/smsd.toml -modem emulator -rate-limit 0s </dev/null >"$work/root-serve.log" 2>&1 &
	serve_pid=$!
	if ! wait_for 60 sh -c 'chroot "$0" setpriv --reuid=smsd --regid=smsd --init-groups --reset-env /usr/bin/smsd status -json | grep -Eq "\"running\": *true"' "$R"; then
		fail "smsd serve in the root did not answer in 60 s"; tail -20 "$work/root-serve.log" | sed 's/^/       | /'
		kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; serve_pid=; return
	fi
	local m
	m=$(in_root stat -c '%a %U:%G' /run/smsd /run/smsd/control.sock 2>&1 | tr '\n' ' ')
	[ "$m" = "750 smsd:smsd-admin 660 smsd:smsd-admin " ] && pass "/run/smsd and its control socket: $m" || fail "/run/smsd and control.sock: '$m', want '750 smsd:smsd-admin 660 smsd:smsd-admin'"

	web_test

	# Attack: another process of the smsd user (a shell as smsd, the backup
	# service) goes for the daemon's memory, where the data key is: the
	# daemon is not dumpable, so its /proc entries are root's.
	out=$(as_user smsd cat "/proc/$serve_pid/environ" 2>&1 >/dev/null); rc=$?
	m=$(in_root stat -c '%U' "/proc/$serve_pid/mem" 2>&1)
	[ $rc != 0 ] && grep -qi 'permission denied' <<<"$out" && [ "$m" = root ] &&
		pass "a process of the smsd user cannot read the daemon's environment or memory (/proc/PID/mem is $m's: not dumpable)" ||
		fail "a process of the smsd user reads the daemon's /proc/PID/environ (exit $rc: $out; /proc/PID/mem owned by $m)"

	# Attack: mallory, not in smsd-admin, goes for the socket and the store.
	out=$(as_user mallory /usr/bin/smsd status 2>&1); rc=$?
	[ $rc != 0 ] && grep -q 'permission denied' <<<"$out" && pass "mallory (not in smsd-admin): smsd status refused: $(head -1 <<<"$out" | cut -c1-110)" || fail "mallory reached the daemon: exit $rc: $out"
	out=$(as_user mallory sh -c 'printf "%s\n" +15551234567 "from mallory" | /usr/bin/smsd send' 2>&1); rc=$?
	[ $rc != 0 ] && pass "mallory: smsd send refused (exit $rc)" || fail "mallory queued a message: $out"
	as_user mallory ls /run/smsd >/dev/null 2>&1 && fail "mallory can list /run/smsd" || pass "mallory cannot enter /run/smsd"
	as_user mallory ls /var/lib/smsd >/dev/null 2>&1 && fail "mallory can list /var/lib/smsd" || pass "mallory cannot enter /var/lib/smsd (keys, database)"

	# Attack: the modem. The installed udev rule's group and mode on a
	# device node (a stand-in for the modem's tty); mallory is in dialout.
	local rule grp mode
	rule=$(in_root grep -o 'GROUP="[^"]*", MODE="[0-7]*"' /lib/udev/rules.d/60-smsd-modem.rules | head -1)
	grp=$(sed -n 's/GROUP="\([^"]*\)".*/\1/p' <<<"$rule") mode=$(sed -n 's/.*MODE="\([0-7]*\)"/\1/p' <<<"$rule")
	if [ -z "$grp" ] || [ -z "$mode" ]; then
		fail "no GROUP=/MODE= in the installed 60-smsd-modem.rules"
	else
		in_root rm -f /dev/ttyUSB-smsdtest
		in_root mknod -m "$mode" /dev/ttyUSB-smsdtest c 1 3 && in_root chgrp "$grp" /dev/ttyUSB-smsdtest
		as_user mallory sh -c 'exec 3<>/dev/ttyUSB-smsdtest' 2>/dev/null &&
			fail "mallory (in dialout) opens a modem node as the udev rule leaves it (GROUP=$grp MODE=$mode): she could read the SIM's texts while smsd restarts" ||
			pass "mallory (in dialout) cannot open a modem node as the udev rule leaves it (GROUP=$grp MODE=$mode)"
		as_smsd sh -c 'exec 3<>/dev/ttyUSB-smsdtest' 2>/dev/null && pass "control: the smsd user opens it" || fail "control: the smsd user cannot open the node the udev rule makes (GROUP=$grp MODE=$mode)"
		in_root rm -f /dev/ttyUSB-smsdtest
	fi

	# alice, in smsd-admin: the commands as herself, no sudo; the daemon
	# names her, and no client can say otherwise.
	out=$(as_user alice /usr/bin/smsd status -json 2>&1); rc=$?
	[ $rc = 0 ] && grep -Eq '"running": *true' <<<"$out" && pass "alice (in smsd-admin): smsd status without sudo reaches the daemon" || fail "alice: smsd status: exit $rc: $out"
	out=$(as_user alice sh -c 'printf "%s\n" +15557654321 "Your appointment is at 9" | /usr/bin/smsd send' 2>&1); rc=$?
	[ $rc = 0 ] && grep -q 'queued message' <<<"$out" && ! grep -q 'warning' <<<"$out" && pass "alice: the message on standard input queued, no warning: $out" || fail "alice: smsd send: exit $rc: $out"
	out=$(as_user alice /usr/bin/smsd messages 2>&1); rc=$?
	[ $rc = 0 ] && grep -q 'unix:alice' <<<"$out" && pass "alice: smsd messages shows her message created by unix:alice" || fail "alice: smsd messages: exit $rc: $out"
	out=$(as_user alice sh -c 'cd /home/alice && /usr/bin/smsd audit export -out /home/alice/audit.csv' 2>&1); rc=$?
	if [ $rc = 0 ] && in_root grep -q 'unix:alice' /home/alice/audit.csv; then
		pass "alice: smsd audit export names her: $(in_root grep -c 'unix:alice' /home/alice/audit.csv) row(s) by unix:alice"
	else
		fail "alice: audit export: exit $rc: $out"
	fi
	# A number given as an argument still works, with the warning.
	out=$(as_user alice /usr/bin/smsd send -to +15557654321 -text "argv" 2>&1); rc=$?
	[ $rc = 0 ] && grep -q "visible to every user of this box in ps" <<<"$out" && pass "alice: smsd send -to -text warns: $(grep -o 'warning: [^;]*' <<<"$out")" || fail "alice: smsd send -to -text: exit $rc, no warning: $out"
	# Logs carry pseudonyms, not numbers or their masked form: once alice's
	# messages went out through the emulated modem, the lines about them
	# name the recipient as n:<8 hex digits>.
	if ! wait_for 60 grep -q 'msg=sent .*to=n:[0-9a-f]\{8\}' "$work/root-serve.log"; then
		fail "the daemon logged no 'sent' line naming its recipient by pseudonym within 60 s"; grep -E 'sent|to=' "$work/root-serve.log" | head -5 | sed 's/^/       | /'
	elif grep -Eq '5557654321|5551234567|\*{4}4321|\*{4}4567' "$work/root-serve.log"; then
		fail "the daemon's log carries a number or its masked form: $(grep -E '5557654321|5551234567|4321|4567' "$work/root-serve.log" | head -3)"
	else
		pass "the daemon's log names recipients by pseudonym ($(grep -o 'msg=sent .*to=n:[0-9a-f]*' "$work/root-serve.log" | head -1 | grep -o 'to=n:[0-9a-f]*')), no number, not even masked"
	fi

	kill -TERM "$serve_pid" 2>/dev/null
	if wait_for 20 sh -c "! kill -0 $serve_pid"; then
		wait "$serve_pid"; rc=$?
		[ $rc = 0 ] && pass "smsd serve in the root stopped cleanly" || fail "smsd serve in the root exited $rc"
	else
		fail "smsd serve in the root still running 20 s after SIGTERM"; kill -KILL "$serve_pid"
	fi
	serve_pid=
	in_root rm -rf /run/smsd
}

# web_test: the packaged daemon (started by attack_test with the shipped
# config, listen = ":8443") serves the sign-in page over HTTPS with a
# certificate from the local CA in its data directory: curl that trusts
# that CA's ca.pem gets the page, curl with the system's roots only is
# refused, and smsd status shows the CA's fingerprint as openssl computes it.
web_test() {
	local ca="$R/var/lib/smsd/ca.pem" url=https://localhost:8443/signin body code rc fp sfp
	need curl curl || return
	need openssl openssl || return
	if in_root /usr/bin/smsd serve -h 2>&1 | grep -q 'web UI is not built yet'; then
		skip "web UI over HTTPS: this smsd serve does not serve the web UI yet (its -listen says so)"
		return
	fi
	if ! wait_for 30 curl -fsS -o /dev/null --cacert "$ca" "$url"; then
		fail "no answer over HTTPS at $url within 30 s (trusting $ca)"
		curl -sS -o /dev/null --cacert "$ca" "$url" 2>&1 | sed 's/^/       | /'
		grep -iE 'web|listen|tls|certificate' "$work/root-serve.log" | tail -5 | sed 's/^/       | /'
		return
	fi
	body=$(curl -sS --cacert "$ca" -w '\n%{http_code} %{ssl_verify_result}' "$url" 2>&1)
	code=$(tail -1 <<<"$body")
	if [ "$code" = "200 0" ] && grep -q 'id="signin"' <<<"$body"; then
		pass "curl --cacert /var/lib/smsd/ca.pem $url: 200, the sign-in form (id=\"signin\"), certificate verified"
	else
		fail "curl --cacert ca.pem $url: '$code' (want '200 0'), sign-in form $(grep -c 'id="signin"' <<<"$body") time(s)"
		head -5 <<<"$body" | sed 's/^/       | /'
	fi
	out=$(curl -sS -o /dev/null "$url" 2>&1); rc=$?
	[ $rc = 60 ] && pass "curl without --cacert refuses the certificate (exit 60: $(head -1 <<<"$out" | cut -c1-90))" || fail "curl with the system's roots only: exit $rc, want 60 (certificate refused): $out"
	out=$(curl -sS -o /dev/null --cacert "$ca" https://127.0.0.1:8443/signin 2>&1); rc=$?
	[ $rc = 0 ] && pass "the certificate also covers 127.0.0.1" || fail "https://127.0.0.1:8443/ with ca.pem: exit $rc: $out"
	out=$(curl -sS -o /dev/null --cacert "$ca" --resolve www.example.com:8443:127.0.0.1 https://www.example.com:8443/signin 2>&1); rc=$?
	[ $rc != 0 ] && pass "refused under a name that is not the box's (exit $rc)" || fail "the box's certificate was accepted for www.example.com"
	out=$(openssl x509 -in "$ca" -noout -text 2>&1)
	grep -q 'X509v3 Name Constraints: critical' <<<"$out" && grep -q 'DNS:local$' <<<"$out" && grep -q 'IP:192.168.0.0/255.255.0.0' <<<"$out" &&
		pass "ca.pem is name-constrained (critical) to the box, .local and the LAN ranges" || fail "ca.pem lacks critical name constraints: $(grep -A4 'Name Constraints' <<<"$out")"
	fp=$(openssl x509 -noout -fingerprint -sha256 -in "$ca" | cut -d= -f2)
	sfp=$(chroot "$R" setpriv --reuid=smsd --regid=smsd --init-groups --reset-env /usr/bin/smsd status 2>&1 | sed -n 's/^web UI CA fingerprint (SHA-256): //p')
	[ -n "$fp" ] && [ "$sfp" = "$fp" ] && pass "smsd status shows the CA's fingerprint, as openssl computes it ($fp)" || fail "smsd status shows fingerprint '$sfp', openssl '$fp'"
}

# backup_restore_test: the nightly backup as the timer runs it (the
# installed smsd-backup.service's ExecStart, as its User): refused on the
# data's own file system (and smsd status says so), then onto a "stick" (a
# tmpfs mounted in the root) through the running daemon and, with the
# daemon stopped, directly; then a restore from it onto an emptied
# /var/lib/smsd with only the recovery code. No systemd in the root: the
# unit's command runs as the unit would run it.
backup_restore_test() {
	echo "   -- the nightly backup (smsd-backup.service, once) and a restore from it"
	local unit="$R/lib/systemd/system/smsd-backup.service" cmdline user out rc code oldcode newcode b owners
	[ "$(in_root readlink /etc/systemd/system/timers.target.wants/smsd-backup.timer)" = /lib/systemd/system/smsd-backup.timer ] &&
		pass "smsd-backup.timer is enabled (timers.target.wants)" || fail "smsd-backup.timer is not enabled"
	cmdline=$(sed -n 's/^ExecStart=//p' "$unit")
	user=$(sed -n 's/^User=//p' "$unit")
	user=${user:-root}
	[ -n "$cmdline" ] || { fail "no ExecStart= in the installed smsd-backup.service"; return; }
	run_unit() { in_root setpriv --reuid="$user" --regid="$user" --init-groups --reset-env sh -c "umask 0077; $cmdline"; }
	# The store came from the previous build, which made no recovery code.
	# Two: the first, retired by the second, is a wrong code later.
	out=$(as_smsd /usr/bin/smsd key recovery 2>&1)
	oldcode=$(sed -n 's/^Recovery code: //p' <<<"$out")
	out=$(as_smsd /usr/bin/smsd key recovery 2>&1); rc=$?
	code=$(sed -n 's/^Recovery code: //p' <<<"$out")
	[ $rc = 0 ] && [ -n "$code" ] && [ -n "$oldcode" ] && [ "$code" != "$oldcode" ] && pass "smsd key recovery printed a recovery code (twice: the first is retired)" || { fail "smsd key recovery: exit $rc: $out"; return; }

	in_root sh -c 'printf "\nbackup_dir = \"/media/smsd-backup\"\nbackup_keep = 2\n" >>/etc/smsd/smsd.toml'
	in_root install -d -m 0700 /media/smsd-backup
	out=$(run_unit 2>&1); rc=$?
	[ $rc != 0 ] && grep -q 'same file system as the data directory' <<<"$out" &&
		pass "backup_dir not mounted (on the data's own file system): the unit fails: $(cut -c1-120 <<<"$out")" || fail "backup onto the data's own file system: exit $rc: $out"
	out=$(as_smsd /usr/bin/smsd status -json 2>&1)
	grep -Eq '"ok": *false' <<<"$out" && grep -q 'same file system' <<<"$out" &&
		pass "smsd status reports the failed backup" || fail "smsd status does not show the failed backup: $out"

	mount -t tmpfs -o size=64m,mode=0700 smsd-backup "$R/media/smsd-backup" && mounts=("$R/media/smsd-backup" "${mounts[@]}")
	in_root install -d -m 0750 -o smsd -g smsd /run/smsd
	chroot "$R" setpriv --reuid=smsd --regid=smsd --init-groups --reset-env /usr/bin/smsd serve -config /etc/smsd/smsd.toml -modem emulator -rate-limit 0s </dev/null >"$work/backup-serve.log" 2>&1 &
	serve_pid=$!
	if wait_for 60 sh -c 'chroot "$0" setpriv --reuid=smsd --regid=smsd --init-groups --reset-env /usr/bin/smsd status -json | grep -Eq "\"running\": *true"' "$R"; then
		out=$(run_unit 2>&1); rc=$?
		[ $rc = 0 ] && grep -q '^backup written: /media/smsd-backup/smsd-' <<<"$out" &&
			pass "smsd-backup.service with smsd serve running (through its control socket): $(head -1 <<<"$out")" || fail "smsd-backup.service with the daemon running: exit $rc: $out"
		grep -q 'msg="backup snapshot made"' "$work/backup-serve.log" && pass "the daemon made the snapshot and logged it" || fail "the daemon's log has no backup line"
	else
		fail "smsd serve in the root did not answer in 60 s"; tail -20 "$work/backup-serve.log" | sed 's/^/       | /'
	fi
	kill -TERM "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; serve_pid=
	in_root rm -rf /run/smsd
	sleep 1 # a second backup in the same second would take the name -2
	out=$(run_unit 2>&1); rc=$?
	[ $rc = 0 ] && grep -q '^backup written: ' <<<"$out" && pass "smsd-backup.service with no daemon (the store opened by the unit): $(head -1 <<<"$out")" || fail "smsd-backup.service without the daemon: exit $rc: $out"
	owners=$(in_root find /var/lib/smsd -mindepth 1 ! -user smsd -printf '%u %p\n')
	[ -z "$owners" ] && pass "no file in /var/lib/smsd left to root by the unit" || fail "files in /var/lib/smsd not owned by smsd after the backup: $owners"
	out=$(as_smsd /usr/bin/smsd status -json 2>&1)
	grep -Eq '"ok": *true' <<<"$out" && grep -q '"last_dir": "/media/smsd-backup/smsd-' <<<"$out" && pass "smsd status shows the last backup good" || fail "smsd status after good backups: $out"
	b=$(cd "$R" && ls -d media/smsd-backup/smsd-* | tail -1)
	b=/$b
	out=$(in_root /usr/bin/smsd backup verify -config /etc/smsd/smsd.toml "$b" 2>&1); rc=$?
	[ $rc = 0 ] && grep -q 'verifies' <<<"$out" && pass "smsd backup verify $b: $(sed -n 2p <<<"$out" | cut -c1-100)" || fail "smsd backup verify: exit $rc: $out"
	if grep -rlaE 'Your appointment is at 9|5557654321|5551234567' "$R/media/smsd-backup" >/dev/null; then
		fail "a backup file holds a message text or number in clear: $(grep -rlaE 'Your appointment is at 9|5557654321|5551234567' "$R/media/smsd-backup")"
	else
		pass "no message text or number in clear in any backup file"
	fi

	in_root sh -c 'rm -rf /root/smsd-old && mkdir /root/smsd-old && mv /var/lib/smsd/* /root/smsd-old/'
	out=$(printf '%s\n' "$oldcode" | in_root /usr/bin/smsd restore -config /etc/smsd/smsd.toml "$b" 2>&1); rc=$?
	[ $rc != 0 ] && grep -q 'does not open this backup' <<<"$out" && [ -z "$(in_root ls -A /var/lib/smsd)" ] && pass "the retired recovery code is refused, /var/lib/smsd left empty: $(head -1 <<<"$out" | cut -c1-110)" || fail "restore with the retired code: exit $rc, /var/lib/smsd: $(in_root ls -A /var/lib/smsd): $out"
	out=$(printf '%s\n' "$code" | in_root /usr/bin/smsd restore -config /etc/smsd/smsd.toml "$b" 2>&1); rc=$?
	newcode=$(sed -n 's/^Recovery code: //p' <<<"$out")
	printf '%s\n' "$out" | grep -v '^Recovery code' | sed 's/^/       | /'
	[ $rc = 0 ] && [ -n "$newcode" ] && [ "$newcode" != "$code" ] && pass "smsd restore with the recovery code: a new recovery code printed once" || fail "smsd restore: exit $rc"
	owners=$(in_root find /var/lib/smsd -mindepth 1 \( ! -user smsd -o -perm /077 \) -printf '%m %u %p\n')
	[ -z "$owners" ] && in_root test -s /var/lib/smsd/smsd.key && pass "the restored data directory: a new key file, every file smsd's, 0600" || fail "restored files: $owners"
	out=$(as_smsd /usr/bin/smsd messages 2>&1)
	grep -q 'unix:alice' <<<"$out" && pass "the restored store has the messages (alice's among them)" || fail "smsd messages on the restored store: $out"
	out=$(as_smsd /usr/bin/smsd audit check 2>&1); rc=$?
	[ $rc = 0 ] && pass "smsd audit check on the restored store: $out" || fail "smsd audit check after restore: exit $rc: $out"
	in_root cmp -s /var/lib/smsd/smsd.key /root/smsd-old/smsd.key && fail "the restored store kept the old key file" || pass "the restored store's key file is new"
	in_root rm -rf /root/smsd-old
}

install_test() {
	need debootstrap debootstrap || return
	need zstd zstd || return
	need chroot coreutils || return
	[ "$(id -u)" = 0 ] || { skip "install: needs root (chroot, dpkg in the root)"; return; }
	if [ ! -s "$ROOT_TARBALL" ]; then
		echo "   no cached root at $ROOT_TARBALL: debootstrap --variant=minbase bookworm from $MIRROR (first run only)"
		local b="$CACHE/build.$$" t0=$SECONDS
		mkdir -p "$CACHE" && rm -rf "$b"
		if ! debootstrap --variant=minbase --include=adduser bookworm "$b" "$MIRROR" >"$work/debootstrap.log" 2>&1; then
			fail "debootstrap bookworm failed (is $MIRROR reachable through apt's proxy?)"; tail -20 "$work/debootstrap.log" | sed 's/^/       | /'
			rm -rf "$b"; return
		fi
		rm -f "$b"/var/cache/apt/archives/*.deb
		tar -C "$b" --numeric-owner -cf - . | zstd -q -T0 -o "$ROOT_TARBALL.$$" && mv "$ROOT_TARBALL.$$" "$ROOT_TARBALL"
		rm -rf "$b"
		echo "   debootstrap + cache took $((SECONDS - t0)) s"
	fi
	R="$work/root"
	mkdir -p "$R"
	if ! tar -C "$R" --numeric-owner --zstd -xf "$ROOT_TARBALL"; then
		fail "cannot unpack $ROOT_TARBALL (delete it to rebuild)"; return
	fi
	pass "bookworm root unpacked from $ROOT_TARBALL ($(du -h "$ROOT_TARBALL" | cut -f1))"
	mount -t proc proc "$R/proc" 2>/dev/null && mounts+=("$R/proc")

	# The previous build: the commit PREV_REV (the newest tag, else the build
	# that landed before this work), built by its own build-deb.sh from a
	# clean export, so that the upgrade runs an older binary's data through
	# the new one. Without that commit (a shallow clone) the same tree under a
	# lower version stands in, and the summary says so.
	local prevraw prev out rc sums0 sums1 prevrev prevsrc t
	prevrev=${PREV_REV:-$(git describe --tags --abbrev=0 2>/dev/null || echo 82451d0)}
	if git cat-file -e "$prevrev^{commit}" 2>/dev/null && [ "$(git rev-parse "$prevrev")" != "$(git rev-parse HEAD)" ]; then
		prevsrc="$work/prevsrc"
		mkdir -p "$prevsrc" && git archive "$prevrev" | tar -x -C "$prevsrc"
		t=$(git log -1 --format=%ct "$prevrev")
		prevraw=$(git describe --tags --always "$prevrev")
		if ! (cd "$prevsrc" && SOURCE_DATE_EPOCH=$t DIST="$work/prev" ./packaging/build-deb.sh "$prevraw" amd64) >"$work/prev.log" 2>&1; then
			fail "building the previous build $prevraw (commit $prevrev) failed"; tail -20 "$work/prev.log" | sed 's/^/       | /'; return
		fi
	else
		note "previous build: commit $prevrev is not in this clone (shallow?); the same tree under a lower version stands in (git fetch --unshallow for the real one)"
		prevraw="${debver%-1}~prev"
		if ! DIST="$work/prev" "$here/build-deb.sh" "$prevraw" amd64 >"$work/prev.log" 2>&1; then
			fail "building the previous version $prevraw failed"; sed 's/^/       | /' "$work/prev.log"; return
		fi
	fi
	prev=$(ls "$work"/prev/smsd_*_amd64.deb)
	local prevver
	prevver=$(dpkg-deb -f "$prev" Version)
	dpkg --compare-versions "$prevver" lt "$debver" && pass "previous build $prevver sorts before $debver" || { fail "previous build $prevver does not sort before $debver: no upgrade to test"; return; }
	cp "$prev" "$R/tmp/prev.deb" && cp "$(deb amd64)" "$R/tmp/cur.deb"
	as_smsd() { in_root setpriv --reuid=smsd --regid=smsd --init-groups --reset-env "$@"; }

	echo "   -- first install of $prevver"
	out=$(in_root dpkg -i /tmp/prev.deb 2>&1); rc=$?
	printf '%s\n' "$out" | sed 's/^/       | /'
	[ $rc = 0 ] && pass "dpkg -i smsd $prevver: exit 0 (no systemd in the root: enabled, not started)" || { fail "dpkg -i $prevver: exit $rc"; return; }
	grep -q 'Next steps' <<<"$out" && pass "postinst printed the next steps" || fail "postinst printed no next steps"
	expect_installed "$prevver"
	out=$(as_smsd /usr/bin/smsd send -to +15551234567 -text "queued by $prevver" 2>&1); rc=$?
	[ $rc = 0 ] && grep -q 'queued message 1 to +1\*\*\*\*\*\*4567' <<<"$out" && pass "the previous build queues a message (as smsd, no daemon in the root; number masked)" || fail "smsd send with $prevver: exit $rc: $out"
	sums0=$(data_sums)

	echo "   -- reinstall of the same version: nothing in the data directory changes"
	out=$(in_root dpkg -i /tmp/prev.deb 2>&1); rc=$?
	[ $rc = 0 ] && [ "$(data_sums)" = "$sums0" ] && ! grep -q 'creating keys' <<<"$out" && pass "reinstall: exit 0, keys and database untouched" || fail "reinstall: exit $rc or the data directory changed"

	echo "   -- upgrade $prevver -> $debver with an admin's edit in the conffile"
	in_root sh -c 'echo "# edited by the clinic admin (package-test)" >>/etc/smsd/smsd.toml'
	# When the shipped smsd.toml changed since the previous build, dpkg asks
	# the admin what to do with the edited one; with no terminal it fails.
	# --force-confdef --force-confold answer as unattended-upgrades does and
	# as the prompt's default does: keep the admin's file, put the new one
	# beside it as smsd.toml.dpkg-dist.
	local confchanged=0
	dpkg-deb --fsys-tarfile "$prev" | tar -xO ./etc/smsd/smsd.toml >"$work/prev.toml"
	dpkg-deb --fsys-tarfile "$(deb amd64)" | tar -xO ./etc/smsd/smsd.toml >"$work/cur.toml"
	cmp -s "$work/prev.toml" "$work/cur.toml" || confchanged=1
	out=$(in_root dpkg -i --force-confdef --force-confold /tmp/cur.deb 2>&1); rc=$?
	printf '%s\n' "$out" | sed 's/^/       | /'
	[ $rc = 0 ] && pass "dpkg -i --force-confdef --force-confold smsd $debver over $prevver: exit 0" || fail "upgrade: exit $rc"
	expect_installed "$debver"
	[ "$(data_sums)" = "$sums0" ] && pass "upgrade kept every file in /var/lib/smsd byte for byte" || fail "upgrade changed the data directory"
	in_root grep -q 'edited by the clinic admin' /etc/smsd/smsd.toml && pass "upgrade kept the admin's edit of /etc/smsd/smsd.toml" || fail "upgrade lost the admin's conffile edit"
	if [ $confchanged = 1 ]; then
		in_root cat /etc/smsd/smsd.toml.dpkg-dist 2>/dev/null | cmp -s - "$work/cur.toml" &&
			pass "the shipped smsd.toml changed since $prevver: the new one is beside the admin's as smsd.toml.dpkg-dist" ||
			fail "the shipped smsd.toml changed since $prevver, but /etc/smsd/smsd.toml.dpkg-dist is not the new one"
	else
		pass "the shipped smsd.toml is the same as in $prevver: no conffile question"
	fi

	echo "   -- the new build reads the old build's data, and the postinst's next steps work as printed"
	out=$(as_smsd /usr/bin/smsd status -json 2>&1)
	grep -Eq '"queued": *1' <<<"$out" && pass "smsd $debver opens the store of $prevver: the message it queued is there" || fail "the new build does not see the old build's message: $out"
	out=$(as_smsd sh -c 'echo "package test password" | /usr/bin/smsd user add -role admin -name "Pat Admin" pat' 2>&1); rc=$?
	[ $rc = 0 ] && grep -q 'created admin account pat' <<<"$out" && pass "smsd user add -role admin (as smsd): $out" || fail "smsd user add as smsd: exit $rc: $out"
	out=$(as_smsd /usr/bin/smsd user list 2>&1)
	grep -Eq '^pat +admin +Pat Admin +active' <<<"$out" && pass "smsd user list shows the admin" || fail "smsd user list: $out"
	out=$(as_smsd sh -c 'printf "%s\n" +15551234567 "queued by $0" | /usr/bin/smsd send' "$debver" 2>&1); rc=$?
	[ $rc = 0 ] && grep -q 'queued message 2 to' <<<"$out" && pass "smsd send after the upgrade: message 2 queued" || fail "smsd send after the upgrade: exit $rc: $out"
	attack_test
	backup_restore_test
	sums1=$(data_sums)

	echo "   -- dpkg -r: program gone, data and config kept"
	out=$(in_root dpkg -r smsd 2>&1); rc=$?
	st=$(in_root dpkg-query -W -f '${Status}' smsd 2>&1)
	[ $rc = 0 ] && [ "$st" = "deinstall ok config-files" ] && pass "dpkg -r: exit 0, status '$st'" || fail "dpkg -r: exit $rc, status '$st'"
	in_root test ! -e /usr/bin/smsd && pass "/usr/bin/smsd removed" || fail "/usr/bin/smsd still there after dpkg -r"
	[ "$(data_sums)" = "$sums1" ] && [ -n "$sums1" ] && pass "dpkg -r kept /var/lib/smsd (keys, database) byte for byte" || fail "dpkg -r changed or removed /var/lib/smsd"
	in_root grep -q 'edited by the clinic admin' /etc/smsd/smsd.toml && pass "dpkg -r kept /etc/smsd/smsd.toml" || fail "dpkg -r removed the config"

	echo "   -- reinstall after remove picks up the same keys"
	out=$(in_root dpkg -i --force-confdef --force-confold /tmp/cur.deb 2>&1); rc=$?
	[ $rc = 0 ] && [ "$(data_sums)" = "$sums1" ] && pass "reinstall after remove: exit 0, same keys and database" || fail "reinstall after remove: exit $rc or data changed"
	[ "$(in_root readlink /etc/systemd/system/multi-user.target.wants/smsd.service)" = /lib/systemd/system/smsd.service ] &&
		! in_root test -L /etc/systemd/system/smsd.service && pass "unit enabled again and not masked" || fail "after reinstall the unit is masked or not enabled"

	echo "   -- dpkg -P: data, config and unit state gone"
	out=$(in_root dpkg -P smsd 2>&1); rc=$?
	st=$(in_root dpkg-query -W -f '${Status}' smsd 2>&1)
	[ $rc = 0 ] && pass "dpkg -P: exit 0 ($st)" || fail "dpkg -P: exit $rc: $out"
	in_root test ! -e /var/lib/smsd && pass "/var/lib/smsd removed on purge" || fail "/var/lib/smsd survived dpkg -P"
	in_root test ! -e /etc/smsd && pass "/etc/smsd removed on purge" || fail "/etc/smsd survived dpkg -P"
	in_root dpkg-statoverride --list /etc/smsd/smsd.toml >/dev/null 2>&1 && fail "statoverride for smsd.toml survived purge" || pass "statoverride removed"
	left=$(in_root find /etc/systemd /var/lib/systemd -name '*smsd*' 2>/dev/null)
	[ -z "$left" ] && pass "no unit symlinks or deb-systemd-helper state left" || fail "left after purge: $left"
	in_root getent passwd smsd >/dev/null && pass "system user smsd kept after purge (Debian practice; README says so)" || fail "user smsd vanished on purge (README says it stays)"

	echo "   -- a first install of this build shows the audit public key, for the compliance officer"
	out=$(in_root dpkg -i /tmp/cur.deb 2>&1); rc=$?
	printf '%s\n' "$out" | sed 's/^/       | /'
	key=$(as_smsd /usr/bin/smsd audit pubkey 2>&1)
	if [ $rc = 0 ] && grep -q 'Audit public key' <<<"$out" && [ -n "$key" ] && grep -qF -- "$key" <<<"$out"; then
		pass "postinst printed the audit public key, the one smsd audit pubkey gives ($key)"
	else
		fail "first install: exit $rc; the postinst did not print the audit public key ($key)"
	fi
	# ... and the web UI CA's fingerprint, the one of the ca.pem smsd init made.
	local fp
	fp=$(openssl x509 -noout -fingerprint -sha256 -in "$R/var/lib/smsd/ca.pem" 2>/dev/null | cut -d= -f2)
	if [ -n "$fp" ] && grep -qF -- "  $fp" <<<"$out" && grep -q '^Web UI: https://' <<<"$out"; then
		pass "postinst printed the web UI's address and its CA's fingerprint ($fp)"
	else
		fail "first install: the postinst did not print the web UI CA's fingerprint '$fp'"
	fi
	# ... and the one-time setup code of the web UI's first page.
	if grep -Eq '^setup code: [A-Z2-7]{4}(-[A-Z2-7]{4}){3} ' <<<"$out"; then
		pass "postinst (smsd init) printed the web UI's one-time setup code"
	else
		fail "first install: no setup code for the web UI's first page in the postinst's output"
	fi
	in_root dpkg -P smsd >/dev/null 2>&1
}

# --- version ---------------------------------------------------------------------
if want version; then
	section "version: git describe output maps to a valid Debian version that sorts like the commits"
	SOURCE_DATE_EPOCH=1795543858
	while read -r in expect; do
		got=$("$here/build-deb.sh" --deb-version "$in")
		if [ "$got" = "$expect" ] && dpkg --validate-version "$got" 2>/dev/null; then
			pass "$in -> $got"
		else
			fail "version mapping of '$in': got '$got', want '$expect' (valid Debian version)"
		fi
	done <<-'EOF'
		v1.2.3 1.2.3-1
		1.2.3 1.2.3-1
		v1.2.3-rc1 1.2.3~rc1-1
		v1.2.3-5-gabc1234 1.2.3+git5.gabc1234-1
		v1.2.3-5-gabc1234-dirty 1.2.3+git5.gabc1234.dirty-1
		v1.2.3-dirty 1.2.3+dirty-1
		3fc5da3 0.0~git20261124181058.g3fc5da3-1
		3fc5da3-dirty 0.0~git20261124181058.g3fc5da3+dirty-1
		dev 0.0~dev-1
		release/2026_q1 0.0~release.2026.q1-1
	EOF
	# Each must sort strictly before the next, as the commits do.
	order=(0.0~dev-1 0.0~git20261124181058.g3fc5da3-1 1.2.3~rc1-1 1.2.3-1 1.2.3+git5.gabc1234-1 1.2.3+git5.gabc1234.dirty-1 1.2.4~rc1-1)
	ok=1
	for ((i = 0; i + 1 < ${#order[@]}; i++)); do
		dpkg --compare-versions "${order[i]}" lt "${order[i+1]}" || { ok=0; fail "sort order: ${order[i]} is not before ${order[i+1]}"; }
	done
	[ $ok = 1 ] && pass "sort order: ${order[*]}"
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || echo 0)
	section_end
fi

# --- build -----------------------------------------------------------------------
section "build: make deb (build-deb.sh $raw) for ${ARCHES[*]}"
build_ok=0
if out=$(DIST="$DIST" "$here/build-deb.sh" "$raw" "${ARCHES[@]}" 2>&1); then
	build_ok=1
	printf '%s\n' "$out" | sed 's/^/     /'
	for a in "${ARCHES[@]}"; do
		if [ -s "$(deb "$a")" ]; then pass "built $(basename "$(deb "$a")")"; else fail "no $(deb "$a") after build-deb.sh"; build_ok=0; fi
	done
else
	printf '%s\n' "$out" | sed 's/^/       | /'
	fail "build-deb.sh $raw failed (output above)"
fi
section_end
if [ $build_ok = 0 ]; then
	echo; echo "package-test: FAIL: nothing to test without the .debs"; exit 1
fi

# --- repro -----------------------------------------------------------------------
if want repro; then
	section "repro: a second build of the same commit gives byte-identical .debs"
	# Different dir, umask and clock: only SOURCE_DATE_EPOCH and the tree matter.
	# SMSD_REPRO_COLD=1 also compiles from an empty Go build cache (about a
	# minute more per architecture), so the compiler's output is compared too,
	# not only the packaging.
	repro_env=()
	if [ "${SMSD_REPRO_COLD:-0}" = 1 ]; then
		repro_env=(GOCACHE="$work/gocache")
		echo "   cold: empty GOCACHE for the second build"
	fi
	if (umask 0002 && env "${repro_env[@]}" DIST="$work/repro" "$here/build-deb.sh" "$raw" "${ARCHES[@]}" >"$work/repro.log" 2>&1); then
		for a in "${ARCHES[@]}"; do
			h1=$(sha256sum <"$(deb "$a")" | cut -d' ' -f1)
			h2=$(sha256sum <"$work/repro/$(basename "$(deb "$a")")" | cut -d' ' -f1)
			if [ "$h1" = "$h2" ]; then pass "$a: sha256 $h1 both times"; else fail "$a: builds differ ($h1 vs $h2); diffoscope would show where"; fi
		done
	else
		fail "second build failed"; sed 's/^/       | /' "$work/repro.log"
	fi
	section_end
fi

# --- contents --------------------------------------------------------------------
if want contents; then
	section "contents: files, modes, owners, conffiles, control, binaries"
	declare -A elf=([amd64]="x86-64" [arm64]="ARM aarch64" [armhf]="ARM, EABI5")
	for a in "${ARCHES[@]}"; do
		d=$(deb "$a") x="$work/x.$a"
		mkdir -p "$x" && dpkg-deb -R "$d" "$x"
		listing=$(dpkg-deb -c "$d" | awk '{print $1, $2, $6}' | sed 's|^\(\S*\) \(\S*\) \./|\1 \2 /|')
		bad=""
		for want_entry in \
			"-rwxr-xr-x root/root /usr/bin/smsd" \
			"-rw-r--r-- root/root /lib/systemd/system/smsd.service" \
			"-rw-r--r-- root/root /lib/systemd/system/smsd-backup.service" \
			"-rw-r--r-- root/root /lib/systemd/system/smsd-backup.timer" \
			"-rw-r--r-- root/root /lib/udev/rules.d/60-smsd-modem.rules" \
			"-rw-r--r-- root/root /etc/smsd/smsd.toml" \
			"-rw-r--r-- root/root /usr/share/doc/smsd/copyright" \
			"-rw-r--r-- root/root /usr/share/doc/smsd/changelog.Debian.gz" \
			"-rw-r--r-- root/root /usr/share/doc/smsd/README.Debian" \
			"-rw-r--r-- root/root /usr/share/doc/smsd/README.md" \
			"-rw-r--r-- root/root /usr/share/man/man8/smsd.8.gz" \
			"-rw-r--r-- root/root /usr/share/lintian/overrides/smsd"; do
			grep -qxF -- "$want_entry" <<<"$listing" || bad+=" [$want_entry]"
		done
		if [ -z "$bad" ]; then pass "$a: every file at its path, root-owned, with its mode"; else fail "$a: missing or wrong:$bad"; fi
		others=$(grep -v '^d' <<<"$listing" | grep -v -E ' /(usr/bin/smsd|lib/systemd/system/smsd.service|lib/systemd/system/smsd-backup.(service|timer)|lib/udev/rules.d/60-smsd-modem.rules|etc/smsd/smsd.toml|usr/share/doc/smsd/(copyright|changelog.Debian.gz|README.Debian|README.md)|usr/share/man/man8/smsd.8.gz|usr/share/lintian/overrides/smsd)$' || true)
		[ -z "$others" ] && pass "$a: no unexpected files" || fail "$a: unexpected files: $others"
		mt=$(dpkg-deb --fsys-tarfile "$d" | tar -tv --full-time | awk '{print $4" "$5}' | sort -u)
		want_mt=$(date -u -d "@$SOURCE_DATE_EPOCH" '+%Y-%m-%d %H:%M:%S')
		[ "$mt" = "$want_mt" ] && pass "$a: every mtime is SOURCE_DATE_EPOCH ($want_mt)" || fail "$a: mtimes $mt, want $want_mt"
		[ "$(cat "$x/DEBIAN/conffiles")" = "/etc/smsd/smsd.toml" ] && pass "$a: conffiles = /etc/smsd/smsd.toml" || fail "$a: conffiles: $(cat "$x/DEBIAN/conffiles")"
		ctl_ver=$(dpkg-deb -f "$d" Version) ctl_arch=$(dpkg-deb -f "$d" Architecture) dep=$(dpkg-deb -f "$d" Depends)
		[ "$ctl_ver" = "$debver" ] && [ "$ctl_arch" = "$a" ] && pass "$a: control Version $ctl_ver, Architecture $ctl_arch, Depends $dep" ||
			fail "$a: control Version '$ctl_ver' Architecture '$ctl_arch' (want $debver $a)"
		(cd "$x" && md5sum --quiet -c DEBIAN/md5sums >/dev/null 2>&1) && pass "$a: md5sums match the files" || fail "$a: DEBIAN/md5sums does not match"
		ft=$(file -b "$x/usr/bin/smsd")
		[[ $ft == *"${elf[$a]}"* ]] && pass "$a: binary is ${elf[$a]} ($(cut -d, -f1-2 <<<"$ft"))" || fail "$a: binary is '$ft', want ${elf[$a]}"
		[[ $ft == *"stripped"* && $ft != *"not stripped"* ]] && pass "$a: binary stripped" || fail "$a: binary not stripped: $ft"
		bi=$(go version -m "$x/usr/bin/smsd" 2>&1)
		grep -q -- '-trimpath=true' <<<"$bi" && pass "$a: built with -trimpath" || fail "$a: no -trimpath in build info"
		if [ "$a" = armhf ]; then grep -q 'GOARM=7' <<<"$bi" && pass "armhf: GOARM=7" || fail "armhf: not GOARM=7: $(grep GOARM <<<"$bi")"; fi
		# Every Go module compiled in must have a Files: paragraph in copyright.
		miss=""
		for m in $(awk '$1 == "dep" {print $2}' <<<"$bi"); do
			grep -qE "^Files:.*(^| )$m( |$)" "$x/usr/share/doc/smsd/copyright" || grep -qE "^Files:.* $m( |$)" "$x/usr/share/doc/smsd/copyright" || miss+=" $m"
		done
		[ -z "$miss" ] && pass "$a: copyright names every module in the binary ($(awk '$1 == "dep"' <<<"$bi" | wc -l) modules)" || fail "$a: copyright lacks a Files: paragraph for:$miss (packaging/debian/copyright)"
	done
	section_end
fi

# --- man -------------------------------------------------------------------------
if want man; then
	section "man: smsd(8) is generated from the CLI help and renders cleanly"
	x="$work/x.amd64"; [ -d "$x" ] || { mkdir -p "$x" && dpkg-deb -R "$(deb amd64)" "$x"; }
	if need man man-db; then
		warn=$(man --warnings -E UTF-8 -l -Tutf8 -Z "$x/usr/share/man/man8/smsd.8.gz" 2>&1 >/dev/null)
		[ -z "$warn" ] && pass "man --warnings: none" || fail "groff warnings: $warn"
		text=$(MANWIDTH=80 man -l "$x/usr/share/man/man8/smsd.8.gz" 2>/dev/null | col -b)
		miss=""
		for c in $("$x/usr/bin/smsd" help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z0-9-]*\) .*/\1/p'); do
			grep -q "smsd $c" <<<"$text" || miss+=" $c"
		done
		[ -z "$miss" ] && pass "every command of 'smsd help' has a section" || fail "commands missing from smsd(8):$miss"
		grep -q "$debver" <<<"$text" && pass "page names version $debver" || fail "page does not name $debver"
	fi
	section_end
fi

# --- conffile ----------------------------------------------------------------------
if want conffile; then
	section "conffile: /etc/smsd/smsd.toml parses with the real config package and its comments show the real defaults"
	if out=$(go test -count=1 -run 'TestConffile' -v ./packaging/ 2>&1); then
		grep -E '^    --- PASS' <<<"$out" | sed 's/^ *--- PASS: /  PASS /'
	else
		fail "go test ./packaging (TestConffile)"; printf '%s\n' "$out" | sed 's/^/       | /' | tail -20
	fi
	section_end
fi

# --- lintian ---------------------------------------------------------------------
if want lintian; then
	section "lintian: no errors and no warnings on each .deb (overrides carry their reasons)"
	if need lintian lintian; then
		for a in "${ARCHES[@]}"; do
			# No --fail-on: with --show-overrides it would count overridden tags too.
			lintian --display-info --show-overrides "$(deb "$a")" >"$work/lintian.$a" 2>&1
			rc=$?
			out=$(grep -v 'running with root privileges' "$work/lintian.$a")
			ew=$(grep -cE '^[EW]: ' <<<"$out")
			if [ "$rc" = 0 ] && [ "$ew" = 0 ]; then
				pass "$a: 0 errors, 0 warnings ($(grep -cE '^I: ' <<<"$out") info, $(grep -cE '^O: ' <<<"$out") overridden)"
			else
				fail "$a: lintian exit $rc, $ew errors/warnings"
			fi
			[ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/       | /'
		done
	fi
	section_end
fi

# --- systemd ---------------------------------------------------------------------
if want systemd; then
	section "systemd: the unit verifies clean and its exposure is <= $EXPOSURE_MAX"
	if need systemd-analyze systemd; then
		x="$work/x.amd64"; [ -d "$x" ] || { mkdir -p "$x" && dpkg-deb -R "$(deb amd64)" "$x"; }
		# verify resolves ExecStart, User and man: pages against --root: give it
		# the package's files on top of the system's own units.
		vr="$work/verify-root"
		mkdir -p "$vr/lib/systemd" "$vr/etc"
		cp -a /lib/systemd/system "$vr/lib/systemd/"
		cp -a "$x/." "$vr/"
		rm -rf "$vr/DEBIAN"
		vout=$(MANPATH="$vr/usr/share/man" systemd-analyze verify --root="$vr" smsd.service 2>&1)
		vrc=$?
		[ $vrc = 0 ] && [ -z "$vout" ] && pass "systemd-analyze verify smsd.service: clean (exit 0, no output)" ||
			{ fail "systemd-analyze verify: exit $vrc"; printf '%s\n' "$vout" | sed 's/^/       | /'; }
		vout=$(MANPATH="$vr/usr/share/man" systemd-analyze verify --root="$vr" smsd-backup.service smsd-backup.timer 2>&1)
		vrc=$?
		[ $vrc = 0 ] && [ -z "$vout" ] && pass "systemd-analyze verify smsd-backup.service smsd-backup.timer: clean (exit 0, no output)" ||
			{ fail "systemd-analyze verify smsd-backup.service smsd-backup.timer: exit $vrc"; printf '%s\n' "$vout" | sed 's/^/       | /'; }
		# The check must be able to fail: a unit with a typo must not pass.
		sed 's/^ProtectHome=yes/ProtectHme=yes/' "$vr/lib/systemd/system/smsd.service" >"$vr/lib/systemd/system/smsd-typo.service"
		tout=$(MANPATH="$vr/usr/share/man" systemd-analyze verify --root="$vr" smsd-typo.service 2>&1)
		[ -n "$tout" ] && pass "control: verify reports a misspelt key ($(head -1 <<<"$tout" | cut -c1-80))" || fail "control: verify stayed silent on a misspelt key, so the check above proves nothing"
		rm -f "$vr/lib/systemd/system/smsd-typo.service"
		sout=$(systemd-analyze security --offline=yes --root="$vr" smsd.service 2>&1)
		score=$(sed -n 's/.*Overall exposure level for smsd.service: \([0-9.]*\).*/\1/p' <<<"$sout")
		if [ -z "$score" ]; then
			fail "systemd-analyze security printed no exposure level"; printf '%s\n' "$sout" | tail -5 | sed 's/^/       | /'
		elif awk -v s="$score" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(s <= m) }'; then
			pass "systemd-analyze security --offline=yes: exposure $score (<= $EXPOSURE_MAX)"
		else
			fail "exposure $score > $EXPOSURE_MAX"
		fi
		echo "     what still counts against the unit (systemd-analyze marks it - or ✗):"
		grep -E '^(- |✗ )' <<<"$sout" | sed 's/  */ /g; s/^/       /'
		grep -q '^IPAddressDeny=any' "$vr/lib/systemd/system/smsd.service" && grep -q '^ExecStart=/usr/bin/smsd serve -config /etc/smsd/smsd.toml$' "$vr/lib/systemd/system/smsd.service" &&
			pass "IPAddressDeny=any and ExecStart as specified" || fail "unit lost IPAddressDeny=any or its ExecStart"
		# Key custody (issue 16): keys off swap and out of core dumps, and the
		# wait for a key file on a USB stick before serve.
		u="$vr/lib/systemd/system/smsd.service"
		grep -qx 'MemorySwapMax=0' "$u" && grep -qx 'LimitCORE=0' "$u" && grep -qx 'ExecStartPre=/usr/bin/smsd key wait -config /etc/smsd/smsd.toml' "$u" &&
			pass "MemorySwapMax=0, LimitCORE=0 and ExecStartPre=smsd key wait" || fail "unit lost MemorySwapMax=0, LimitCORE=0 or the key wait"
	fi
	section_end
fi

# --- udev ------------------------------------------------------------------------
if want udev; then
	section "udev: 60-smsd-modem.rules parses without complaint (udevadm test, in a private mount namespace)"
	# udevadm test reads /run/udev/rules.d: a tmpfs on /run inside unshare
	# keeps the host untouched. No USB modem here, so this checks syntax, not matching.
	udev_msgs() { # RULESFILE -> udevadm's lines about it
		# The rule's group, smsd-modem, exists on a box with the package:
		# a private copy of /etc/group has it, so udevadm does not warn.
		unshare --mount sh -c 'cp /etc/group "$2" && { grep -q "^smsd-modem:" "$2" || echo "smsd-modem:x:64999:" >>"$2"; } && mount --bind "$2" /etc/group && mount -t tmpfs tmpfs /run && mkdir -p /run/udev/rules.d && cp "$1" /run/udev/rules.d/60-smsd-modem.rules && udevadm test --action=add /class/tty/console 2>&1' sh "$1" "$work/group" |
			grep '60-smsd-modem.rules' | grep -v '^Reading rules file'
	}
	if need udevadm udev && need unshare util-linux; then
		x="$work/x.amd64"; [ -d "$x" ] || { mkdir -p "$x" && dpkg-deb -R "$(deb amd64)" "$x"; }
		rules="$x/lib/udev/rules.d/60-smsd-modem.rules"
		if ! unshare --mount true 2>/dev/null || [ ! -e /sys/class/tty/console ]; then
			skip "udev: no mount namespace or no /sys/class/tty/console here"
		else
			m=$(udev_msgs "$rules")
			[ -z "$m" ] && pass "udevadm test: no complaint about 60-smsd-modem.rules" || fail "udevadm: $m"
			{ cat "$rules"; echo 'ATTRS{idVendor}=="12d1", FOO{x}="1"'; } >"$work/bad.rules"
			m=$(udev_msgs "$work/bad.rules")
			[ -n "$m" ] && pass "control: udevadm reports a bad line ($m)" || fail "control: udevadm stayed silent on a bad key, so the check above proves nothing"
			n=$(grep -c 'SYMLINK+="smsd-modem"' "$rules")
			v=$(grep -o 'ATTRS{idVendor}=="[0-9a-f|]*", GOTO="smsd_modem_known"' "$rules")
			[ "$n" -ge 7 ] && [[ $v == *12d1*1e0e*2c7c*19d2*1199*1546*1bc7* ]] && pass "rule covers Huawei, SIMCom, Quectel, ZTE, Sierra, u-blox, Telit ($n /dev/smsd-modem lines)" || fail "rule lost vendors or links: $v, $n links"
			grep -q '^GROUP="smsd-modem", MODE="0660"' "$rules" && ! grep -q 'GROUP="dialout"' "$rules" && pass "modems go to group smsd-modem, mode 0660 (not dialout)" || fail "the rule does not give modems to smsd-modem 0660: $(grep -o 'GROUP="[^"]*", MODE="[0-9]*"' "$rules")"
		fi
	fi
	section_end
fi

# --- qemu ------------------------------------------------------------------------
# has_cmds CMD...: the built smsd knows every named subcommand.
has_cmds() {
	local h c
	h=$("$work/x.amd64/usr/bin/smsd" help 2>/dev/null)
	for c in "$@"; do grep -qE "^  $c " <<<"$h" || return 1; done
}
if want qemu; then
	section "qemu: the arm64 and armhf binaries run under qemu-user-static"
	x="$work/x.amd64"; [ -d "$x" ] || { mkdir -p "$x" && dpkg-deb -R "$(deb amd64)" "$x"; }
	declare -A qemu=([arm64]=qemu-aarch64-static [armhf]=qemu-arm-static)
	declare -A sysroot=([arm64]=/usr/aarch64-linux-gnu [armhf]=/usr/arm-linux-gnueabihf)
	declare -A goarch=([arm64]=arm64 [armhf]=arm)
	for a in arm64 armhf; do
		need "${qemu[$a]}" qemu-user-static || continue
		[ -d "${sysroot[$a]}/lib" ] || { skip "$a: ${sysroot[$a]} missing: apt-get install crossbuild-essential-$a"; continue; }
		xa="$work/x.$a"; [ -d "$xa" ] || { mkdir -p "$xa" && dpkg-deb -R "$(deb "$a")" "$xa"; }
		run=("${qemu[$a]}" -L "${sysroot[$a]}" "$xa/usr/bin/smsd")
		v=$("${run[@]}" version 2>&1)
		[[ $v == "smsd $debver "*"linux/${goarch[$a]}"* ]] && pass "$a: smsd version -> $v" || fail "$a: smsd version printed '$v'"
		if ! has_cmds init serve send emulator status; then
			skip "$a: real send under qemu: smsd has no init/serve/send/emulator/status subcommands yet ($(sed -n 's/^  \([a-z]*\) .*/\1/p' <<<"$("$x/usr/bin/smsd" help)" | tr '\n' ' '))"
			continue
		fi
		qemu_send "$a" "${run[@]}"
	done
	section_end
fi

# --- install ---------------------------------------------------------------------
if want install; then
	section "install: dpkg in a throwaway Debian bookworm root"
	install_test
	section_end
fi

# --- summary ---------------------------------------------------------------------
printf '\n== summary: %d s in all\n' $((SECONDS - t_start))
for s in "${notes[@]}"; do printf '  NOTE %s\n' "$s"; done
for s in "${skips[@]}"; do printf '  SKIP %s\n' "$s"; done
# Under make test as root every tool was installed by scripts/test-deps.sh:
# a skip there means a broken set-up, and a skipped check proves nothing.
if [ "${SMSD_REQUIRE_REAL_PARTS:-}" = 1 ] && [ ${#skips[@]} -gt 0 ]; then
	failures+=("${#skips[@]} section(s) skipped under SMSD_REQUIRE_REAL_PARTS=1 (make test as root installs what they need)")
fi
if [ ${#failures[@]} -gt 0 ]; then
	for f in "${failures[@]}"; do printf '  FAIL %s\n' "$f"; done
	echo "package-test: FAIL (${#failures[@]} failed)"
	exit 1
fi
echo "package-test: OK"
