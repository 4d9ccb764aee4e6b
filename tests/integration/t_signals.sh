#!/usr/bin/env bash
# Every signal a daemon gets either is handled or leaves nothing behind:
# SIGHUP reloads the file, SIGUSR1/SIGUSR2 are logged and ignored, SIGTERM,
# SIGINT and SIGQUIT stop coopd cleanly, and a second SIGTERM during the
# stop does not cut the cleanup short (50 namespaces to remove).
. "$(dirname "$0")/lib.sh"

conf() { # conf N : N netns VSes of coop's own
	printf '[global]\nworkers = 2\nadmin_socket = %s\n\n' "$T/admin.sock"
	for i in $(seq "$1"); do
		printf '[vs s%d]\nnamespace = %s-s%d\naddresses = 198.18.70.1/32\nlisten = tcp:7 echo\n\n' \
			"$i" "$P" "$i"
	done
}
left() { ip netns list | awk '{print $1}' | grep -c "^$P-s" || true; }
ctl() { "$COOPCTL" -s "$T/admin.sock" "$@"; }

conf 2 >"$T/coop.ini"
start_coopd "$T/coop.ini"
kill -USR1 "$COOPD_PID"
kill -USR2 "$COOPD_PID"
sleep 0.3
kill -0 "$COOPD_PID" 2>/dev/null || fail "SIGUSR1/SIGUSR2 killed coopd"
grep -q 'signal 10: ignored' "$T/coopd.log" || fail "SIGUSR1 not logged"
ok "SIGUSR1, SIGUSR2: logged and ignored"

conf 3 >"$T/coop.ini"
kill -HUP "$COOPD_PID"
for _ in $(seq 50); do ctl show vs 2>/dev/null | grep -q '^s3 ' && break; sleep 0.1; done
ctl show vs | grep -q '^s3 ' || fail "SIGHUP: s3 not added ($(ctl show vs))"
kill -0 "$COOPD_PID" 2>/dev/null || fail "SIGHUP killed coopd"
[ "$(left)" = 3 ] || fail "SIGHUP: $(left) namespaces, 3 expected"
ok "SIGHUP reloads: s3 added, s1 and s2 kept"

stop_twice() { # stop_twice SIGNAL
	kill "-$1" "$COOPD_PID"
	sleep 0.01
	kill -TERM "$COOPD_PID" 2>/dev/null
	for _ in $(seq 200); do kill -0 "$COOPD_PID" 2>/dev/null || break; sleep 0.05; done
	wait "$COOPD_PID"
}
conf 50 >"$T/coop.ini"
kill -HUP "$COOPD_PID"
for _ in $(seq 100); do [ "$(left)" = 50 ] && break; sleep 0.1; done
[ "$(left)" = 50 ] || fail "50 VSes not up ($(left))"
stop_twice TERM
rc=$?
[ "$rc" = 0 ] || fail "SIGTERM twice: exit status $rc"
[ "$(left)" = 0 ] || fail "SIGTERM twice: $(left) namespaces left"
grep -q 'stopped; all kernel state' "$T/coopd.log" || fail "SIGTERM twice: the cleanup did not finish"
ok "SIGTERM, and SIGTERM again during the stop: exit 0, all 50 namespaces removed"

for sig in INT QUIT; do
	conf 2 >"$T/coop.ini"
	start_coopd "$T/coop.ini"
	stop_twice "$sig"
	rc=$?
	[ "$rc" = 0 ] || fail "SIG$sig: exit status $rc"
	[ "$(left)" = 0 ] || fail "SIG$sig: $(left) namespaces left"
done
ok "SIGINT, SIGQUIT: clean stop, nothing left"

# SIGTERM during the bring-up of 300 VSes: coopd finishes bringing them
# up, then stops cleanly (before, the signal's default killed it half-way
# and left namespaces behind).
conf 300 >"$T/coop.ini"
"$COOPD" -c "$T/coop.ini" >"$T/coopd.log" 2>&1 &
COOPD_PID=$!
PIDS+=("$COOPD_PID")
for _ in $(seq 200); do [ "$(left)" -gt 5 ] && break; sleep 0.01; done
[ "$(left)" -gt 5 ] || fail "bring-up of 300 VSes did not start"
kill -TERM "$COOPD_PID"
for _ in $(seq 600); do kill -0 "$COOPD_PID" 2>/dev/null || break; sleep 0.05; done
wait "$COOPD_PID"
rc=$?
[ "$rc" = 0 ] || fail "SIGTERM during bring-up: exit status $rc"
[ "$(left)" = 0 ] || fail "SIGTERM during bring-up: $(left) namespaces left"
ok "SIGTERM during the bring-up of 300 VSes: exit 0, nothing left"
