#!/usr/bin/env bash
# Bad configurations are rejected with a message naming file, section and
# key, by --check and by a real start, and no kernel state changes.
. "$(dirname "$0")/lib.sh"

ip link add "${P}v1" type veth peer name "${P}v1c" || fail "veth"

base() {
	cat <<INI
[global]
workers = 1
admin_socket = $T/admin.sock

INI
}

# expect NAME PATTERN : the config in $T/NAME.ini must be rejected with a
# message matching PATTERN, both by --check and by a start attempt.
expect() {
	local name=$1 pat=$2 out rc
	out=$("$COOPD" --check -c "$T/$name.ini" 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] || fail "$name: --check exited $rc, expected 1"
	echo "$out" | grep -q -- "$pat" || fail "$name: message '$out' does not match '$pat'"
	out=$(timeout 10 "$COOPD" -c "$T/$name.ini" 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] || fail "$name: coopd -c exited $rc, expected 1"
	echo "$out" | grep -q -- "$pat" || fail "$name: start message '$out' does not match '$pat'"
	ok "$name: $(echo "$out" | head -1)"
}

snapshot() {
	{
		ip netns list | awk '{print $1}'
		ip -o link show | awk -F': ' '{print $2}'
		ip -o addr show | awk '{print $2, $4}'
	} | sort
}
before=$(snapshot)

{ base; printf '[vs a]\nnamespace = %s-a\naddresses = 198.18.1.1/24\ncolour = blue\nlisten = tcp:7 echo\n' "$P"; } >"$T/unknown-key.ini"
expect unknown-key "unknown-key.ini: \[vs a\] colour: .*unknown key"

{ base; printf '[vs a]\nnamespace = %s-a\naddresses = 198.18.1.300/24\nlisten = tcp:7 echo\n' "$P"; } >"$T/bad-address.ini"
expect bad-address "\[vs a\] addresses: .*198.18.1.300/24"

{ base; printf '[vs a]\nnamespace = %s-a\naddresses = 198.18.1.1/24\n\n[vs a]\nnamespace = %s-b\naddresses = 198.18.2.1/24\n' "$P" "$P"; } >"$T/dup-vs.ini"
expect dup-vs "\[vs a\]: section given twice"

{ base; printf '[vs a]\nnamespace = %s-a\ninterface = %snothere\naddresses = 198.18.1.1/24\n' "$P" "$P"; } >"$T/no-iface.ini"
expect no-iface "\[vs a\] interface: .*${P}nothere"

{ base; printf '[vs a]\nnamespace = %s-a\ninterface = %sv1\naddresses = 198.18.1.1/24\nlisten = tcp:7 ftp\n' "$P" "$P"; } >"$T/no-service.ini"
expect no-service "\[vs a\] listen: unknown service 'ftp'"

after=$(snapshot)
[ "$before" = "$after" ] || fail "kernel state changed: $(diff <(echo "$before") <(echo "$after"))"
ok "no namespace, link or address changed"
