#!/usr/bin/env bash
# Bad pbr input is refused with a clear message and changes nothing in the
# shared namespace: a mark or a table outside its [global] range, a table a
# foreign rule uses, overlapping addresses, bad pbr_* values. Assigned
# tables step around foreign ones.
. "$(dirname "$0")/lib.sh"

S="$P-s"
ip netns add "$S" || fail "ip netns add"
nsx "$S" ip link set lo up
# No IPv6 link-local addresses: their DAD finishing would change the
# snapshots below behind the test's back.
nsx "$S" sysctl -qw net.ipv6.conf.default.addr_gen_mode=1
ip link add "${P}xa" netns "$S" type veth peer name "${P}xp" netns "$S" || fail "veth"
nsx "$S" ip link set "${P}xa" up
nsx "$S" ip link set "${P}xp" up
# Foreign state: the host's address on the link, a rule looking up table
# 70000 and a route in 70002.
nsx "$S" ip addr add 198.18.40.250/32 dev "${P}xa"
nsx "$S" ip rule add pref 500 fwmark 0x5 lookup 70000
nsx "$S" ip route add 198.18.98.0/24 dev "${P}xa" table 70002

snapshot() {
	{
		nsx "$S" ip -4 rule show
		nsx "$S" ip -6 rule show
		nsx "$S" ip -4 route show table all
		nsx "$S" ip -6 route show table all
		nsx "$S" ip -o addr show
		nsx "$S" sysctl -n net.ipv4.fwmark_reflect net.ipv4.tcp_fwmark_accept
	} | sort
}
before=$(snapshot)

# ini NAME GLOBAL-LINES VS-SECTIONS...
ini() {
	local name=$1 global=$2
	shift 2
	{
		printf '[global]\nworkers = 1\nadmin_socket = %s/admin.sock\n%s\n' "$T" "$global"
		for v in "$@"; do printf '\n%s\n' "$v"; done
	} >"$T/$name.ini"
}
vs() { # vs NAME ADDRESSES [EXTRA-LINES]
	printf '[vs %s]\nisolation = pbr\nnamespace = %s\ninterface = %s\naddresses = %s\nlisten = tcp:8 whoami\n%s' \
		"$1" "$S" "${P}xa" "$2" "${3:-}"
}

# refused NAME PATTERN [start-only] : --check (unless start-only) and a real
# start both refuse with PATTERN, and the namespace is exactly as before.
refused() {
	local name=$1 pat=$2 out rc
	if [ "${3:-}" != start-only ]; then
		out=$("$COOPD" --check -c "$T/$name.ini" 2>&1)
		rc=$?
		[ "$rc" -eq 1 ] || fail "$name: --check exited $rc: $out"
		echo "$out" | grep -q -- "$pat" || fail "$name: '$out' does not match '$pat'"
	fi
	out=$(timeout 10 "$COOPD" -c "$T/$name.ini" 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] || fail "$name: coopd exited $rc: $out"
	echo "$out" | grep -q -- "$pat" || fail "$name: start said '$out', not '$pat'"
	[ "$(snapshot)" = "$before" ] || fail "$name: the namespace changed: $(diff <(echo "$before") <(snapshot))"
	ok "$name: $(echo "$out" | grep -- "$pat" | head -1)"
}

ini mark-range "" "$(vs a 198.18.41.5/24 'mark = 5')"
refused mark-range "\[vs a\] mark: mark 0x5 is outside pbr_marks 0x10000-0x1ffff"

ini table-range "pbr_tables = 1000-1999" "$(vs a 198.18.41.5/24 'table = 100')"
refused table-range "\[vs a\] table: table 100 is outside pbr_tables 1000-1999"

ini table-foreign "pbr_tables = 70000-70010" "$(vs a 198.18.41.5/24 'table = 70000')"
refused table-foreign "vs 'a': table: table 70000 is used by a rule coop does not own (priority 500" start-only

ini table-foreign-route "pbr_tables = 70000-70010" "$(vs a 198.18.41.5/24 'table = 70002')"
refused table-foreign-route "vs 'a': table: table 70002 holds routes coop does not own" start-only

ini overlap "" "$(vs a 198.18.41.5/24)" "$(vs b 198.18.41.7/24)"
refused overlap "\[vs b\] addresses: 198.18.41.7/24 overlaps 198.18.41.5/24 of pbr VS 'a'"

ini overlap6 "" "$(vs a 2001:db8:40::5/64)" "$(vs b 2001:db8:40::5/128)"
refused overlap6 "\[vs b\] addresses: 2001:db8:40::5/128 overlaps"

ini marks-bad "pbr_marks = 0x20-0x10" "$(vs a 198.18.41.5/24)"
refused marks-bad "\[global\] pbr_marks: '0x20-0x10' is not a mark range"

ini proto-bad "pbr_protocol = 3" "$(vs a 198.18.41.5/24)"
refused proto-bad "\[global\] pbr_protocol: '3' is not a usable protocol number"

ini tables-full "pbr_tables = 70000-70000" "$(vs a 198.18.41.5/24)"
refused tables-full "vs 'a': no free table left in pbr_tables 70000-70000" start-only

# An assigned table steps over the one the foreign rule uses.
ini skip "pbr_tables = 70000-70001" "$(vs a 198.18.41.5/24)"
start_coopd "$T/skip.ini"
nsx "$S" ip rule show | grep -q 'lookup 70001 proto 246' || fail "VS did not get table 70001: $(nsx "$S" ip rule show)"
nsx "$S" ip route show table 70001 | grep -q 'default\|198.18.41.0/24' || fail "table 70001 empty"
ok "an assigned table avoids the table of a foreign rule (70000 -> 70001)"
stop_coopd
[ "$(snapshot)" = "$before" ] || fail "after stop: $(diff <(echo "$before") <(snapshot))"
ok "stop left the namespace exactly as before"
