#!/usr/bin/env bash
# Per-VS resolvers, netns: two VSes with the SAME addresses, each with a
# dnsmasq in its own client namespace answering the SAME names with
# DIFFERENT addresses (one over IPv4 port 53, one over IPv6 port 5353).
# Each VS gets its own answer, over UDP and over TCP (a truncated answer),
# with its search list and its own hosts file; a VS whose server stops
# answering times out within its configured time while the other keeps
# resolving; a VS without dns has no resolver and says so; the counters
# show in `show vs` and `show stats`. Every check is also made from the
# server side: dnsmasq's query log names the VS address each question came
# from, and the TCP connection is seen in the server's namespace.
. "$(dirname "$0")/lib.sh"

command -v dnsmasq >/dev/null || fail "dnsmasq not installed (dnsmasq-base)"
client_ns "$P-c1" "${P}v1" 198.18.1.2/24 2001:db8:1::2/64
client_ns "$P-c2" "${P}v2" 198.18.1.2/24 2001:db8:1::2/64
client_ns "$P-c3" "${P}v3" 198.18.3.2/24 2001:db8:3::2/64

# 200 addresses for one name: too big for a UDP answer (EDNS 1232 bytes).
for i in $(seq 1 200); do echo "198.19.$((i / 250)).$((i % 250 + 1)) big.corp.test"; done >"$T/big.hosts"

# dnsmasq_in NS LISTEN PORT ANSWER LOG: a server for corp.test inside NS;
# its pid in DPID (no $(...): dnsmasq would hold the substitution open).
dnsmasq_in() {
	local ns=$1 listen=$2 port=$3 answer=$4 log=$5
	# nsenter itself (not the nsx function, a subshell): $! is dnsmasq.
	# --keep-in-foreground, not --no-daemon: in debug mode dnsmasq serves a
	# TCP connection in its main process and stops answering UDP meanwhile.
	# Here TCP questions go to a forked child: its pid in the log marks them.
	nsenter --net="/run/netns/$ns" dnsmasq --keep-in-foreground --user=root --no-resolv --no-hosts --pid-file= \
		--port "$port" --listen-address="$listen" --bind-interfaces --local-ttl=60 \
		--local=/corp.test/ --address="/files.corp.test/$answer" \
		--address="/only-$ns.corp.test/$answer" --addn-hosts="$T/big.hosts" \
		--srv-host=_ldap._tcp.corp.test,dc-"$ns".corp.test,389,0,100 \
		--ptr-record=50.50.18.198.in-addr.arpa,ptr-"$ns".corp.test \
		--log-queries --log-facility="$log" </dev/null >/dev/null 2>>"$T/dnsmasq.err" &
	DPID=$!
	PIDS+=("$DPID")
}
dnsmasq_in "$P-c1" 198.18.1.2 53 198.18.50.1 "$T/q1.log"
d1=$DPID
dnsmasq_in "$P-c2" 2001:db8:1::2 5353 198.18.50.2 "$T/q2.log"
d2=$DPID
# The setup itself, checked with dig from the client namespaces.
for _ in $(seq 50); do
	nsx "$P-c1" dig +short +time=1 @198.18.1.2 files.corp.test 2>/dev/null | grep -q . &&
		nsx "$P-c2" dig +short +time=1 -p 5353 @2001:db8:1::2 files.corp.test 2>/dev/null | grep -q . && break
	sleep 0.1
done
[ "$(nsx "$P-c1" dig +short @198.18.1.2 files.corp.test)" = 198.18.50.1 ] || fail "dnsmasq 1 setup"
[ "$(nsx "$P-c2" dig +short -p 5353 @2001:db8:1::2 files.corp.test)" = 198.18.50.2 ] || fail "dnsmasq 2 setup"
: >"$T/q1.log"
: >"$T/q2.log"

cat >"$T/nas1.hosts" <<HOSTS
# nas1's own names, nobody else's
198.18.60.1 printer.corp.test printer
HOSTS

cat >"$T/coop.ini" <<INI
[global]
workers = 2
admin_socket = $T/admin.sock

[vs nas1]
namespace = $P-nas1
interface = ${P}v1
addresses = 198.18.1.1/24, 2001:db8:1::1/64
dns = 198.18.1.2
search = corp.test
hosts_file = $T/nas1.hosts

[vs nas2]
namespace = $P-nas2
interface = ${P}v2
addresses = 198.18.1.1/24, 2001:db8:1::1/64
dns = [2001:db8:1::2]:5353
search = corp.test
dns_timeout = 300
dns_attempts = 2

[vs nas3]
namespace = $P-nas3
interface = ${P}v3
addresses = 198.18.3.1/24
INI

# Bad settings are refused at load, naming the section and key.
bad() { # bad EXPECTED KEY=VALUE...
	local want=$1 out
	shift
	printf '[global]\nadmin_socket = none\n[vs bad]\n' >"$T/bad.ini"
	printf '%s\n' "$@" >>"$T/bad.ini"
	out=$("$COOPD" --check -c "$T/bad.ini" 2>&1) && fail "accepted: $*"
	grep -qF "$want" <<<"$out" || fail "for '$*': $out"
}
bad "[vs bad] search: needs dns =" "search = corp.test"
bad "[vs bad] dns: '198.18.1.2:0' is not ADDR" "dns = 198.18.1.2:0"
bad "[vs bad] dns_timeout: '5'" "dns = 198.18.1.2" "dns_timeout = 5"
bad "[vs bad] hosts_file: hosts_file $T/none: No such file" "dns = 198.18.1.2" "hosts_file = $T/none"
ok "bad resolver settings refused with section and key"

"$COOPD" --check -c "$T/coop.ini" >/dev/null || fail "config rejected"
start_coopd "$T/coop.ini"
ctl() { "$COOPCTL" -s "$T/admin.sock" "$@"; }
resolve() { ctl --json resolve "$@"; }

# 1. The same name, the same VS addresses, two answers: each VS asked its
# own server, from inside its own namespace.
r1=$(resolve nas1 files.corp.test) || fail "nas1 resolve: $r1"
r2=$(resolve nas2 files.corp.test) || fail "nas2 resolve: $r2"
[ "$(jq -r '.addresses | join(" ")' <<<"$r1")" = 198.18.50.1 ] || fail "nas1 got $r1"
[ "$(jq -r '.addresses | join(" ")' <<<"$r2")" = 198.18.50.2 ] || fail "nas2 got $r2"
[ "$(jq -r .source <<<"$r1")" = dns ] || fail "nas1 source: $r1"
grep -q 'query\[A\] files.corp.test from 198.18.1.1$' "$T/q1.log" || fail "server 1 did not see nas1's A query from 198.18.1.1"
grep -q 'query\[AAAA\] files.corp.test from 198.18.1.1$' "$T/q1.log" || fail "server 1 did not see nas1's AAAA query"
grep -q 'query\[A\] files.corp.test from 2001:db8:1::1$' "$T/q2.log" || fail "server 2 did not see nas2's query from 2001:db8:1::1"
resolve nas1 only-$P-c1.corp.test >/dev/null || fail "nas1 only-c1"
resolve nas2 only-$P-c2.corp.test >/dev/null || fail "nas2 only-c2"
grep -q "only-$P-c2" "$T/q1.log" && fail "server 1 saw nas2's question"
grep -q "only-$P-c1" "$T/q2.log" && fail "server 2 saw nas1's question"
ok "same name, same VS addresses: each VS asked its own server (v4:53 and [v6]:5353) from its own address"

# 2. Search list: a bare name becomes NAME.corp.test.
r=$(resolve nas1 files) || fail "nas1 files: $r"
[ "$(jq -r .answered <<<"$r")" = files.corp.test ] || fail "search: $r"
[ "$(jq -r '.addresses[0]' <<<"$r")" = 198.18.50.1 ] || fail "search: $r"
r=$(resolve nas2 files) || fail "nas2 files: $r"
[ "$(jq -r '.addresses[0]' <<<"$r")" = 198.18.50.2 ] || fail "search nas2: $r"
ok "search list: 'files' answered as files.corp.test by each VS's server"

# 3. Hosts file: nas1's own, read by coop; nobody else has it.
n_before=$(wc -l <"$T/q1.log")
r=$(resolve nas1 printer) || fail "nas1 printer: $r"
[ "$(jq -r .source <<<"$r")" = hosts_file ] || fail "hosts: $r"
[ "$(jq -r '.addresses[0]' <<<"$r")" = 198.18.60.1 ] || fail "hosts: $r"
[ "$(jq -r .canonical <<<"$r")" = printer.corp.test ] || fail "hosts canonical: $r"
[ "$(wc -l <"$T/q1.log")" = "$n_before" ] || fail "a hosts-file name went to the server"
out=$(resolve nas2 printer.corp.test 2>&1) && fail "nas2 knows printer: $out"
grep -q "no such name" <<<"$out" || fail "nas2 printer: $out"
grep -q 'printer.corp.test from 2001:db8:1::1' "$T/q2.log" || fail "server 2 did not see nas2 ask for printer"
ok "hosts file: nas1 answers from its own file without asking, nas2 has none"

# 4. TCP: 200 addresses do not fit a UDP answer; c-ares asks again over TCP.
# The server logs the question twice: once from its main process (UDP),
# once from the child it forks per TCP connection; both from the VS.
r=$(resolve nas1 big.corp.test A) || fail "big: $r"
[ "$(jq '.records | length' <<<"$r")" = 200 ] || fail "big: $(jq '.records | length' <<<"$r") records"
grep -q "dnsmasq\[$d1\]: query\[A\] big.corp.test from 198.18.1.1$" "$T/q1.log" || fail "big: no UDP question at server 1"
grep 'query\[A\] big.corp.test from 198.18.1.1$' "$T/q1.log" | grep -vq "dnsmasq\[$d1\]" ||
	fail "big: no TCP question (forked child) at server 1"
r=$(resolve nas2 big.corp.test A) || fail "big nas2: $r"
[ "$(jq '.records | length' <<<"$r")" = 200 ] || fail "big nas2"
grep 'query\[A\] big.corp.test from 2001:db8:1::1$' "$T/q2.log" | grep -vq "dnsmasq\[$d2\]" ||
	fail "big: no TCP question at server 2"
# The idle TCP connection is closed, the server answers UDP as before.
r=$(resolve nas1 files.corp.test AAAA 2>&1)
grep -q "no record\|no such name" <<<"$r" || fail "after TCP: $r"
ok "truncated answer: 200 records over TCP from the VS's own address (v4 and v6)"

# 5. SRV and PTR, parsed.
r=$(resolve nas1 _ldap._tcp.corp.test SRV) || fail "srv: $r"
[ "$(jq -r '.records[0].data' <<<"$r")" = "0 100 389 dc-$P-c1.corp.test" ] || fail "srv: $r"
r=$(resolve nas2 50.50.18.198.in-addr.arpa PTR) || fail "ptr: $r"
[ "$(jq -r '.records[0].data' <<<"$r")" = "ptr-$P-c2.corp.test" ] || fail "ptr: $r"
ok "SRV and PTR records through each VS's server"

# 6. Cache: the second lookup is not asked again.
n_before=$(grep -c 'files.corp.test' "$T/q1.log")
r=$(resolve nas1 files.corp.test) || fail "cache: $r"
[ "$(jq -r .source <<<"$r")" = cache ] || fail "cache: $r"
[ "$(grep -c 'files.corp.test' "$T/q1.log")" = "$n_before" ] || fail "a cached name went to the server"
ok "cache: answered without asking the server"

# 7. nas2's server stops answering (SIGSTOP: the socket stays, nothing
# comes back): a timeout within dns_timeout x dns_attempts = 600 ms, while
# nas1 keeps resolving.
kill -STOP "$d2"
t0=$(date +%s%N)
resolve nas2 stalled.corp.test >"$T/stalled.out" 2>&1 &
stalled=$!
for i in 1 2 3; do
	r=$(resolve nas1 only-$P-c1.corp.test A) || fail "nas1 stopped resolving while nas2 waits: $r"
	jq -e '.source == "cache" or .source == "dns"' <<<"$r" >/dev/null || fail "nas1: $r"
	r=$(resolve nas1 "fresh$i.corp.test" 2>&1)
	grep -q "no such name" <<<"$r" || fail "nas1 fresh$i: $r"
done
wait "$stalled" && fail "nas2 resolved with its server stopped: $(cat "$T/stalled.out")"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
grep -q "timed out" "$T/stalled.out" || fail "nas2: $(cat "$T/stalled.out")"
[ "$ms" -lt 1500 ] || fail "nas2 took $ms ms to time out (configured 600 ms)"
[ "$ms" -ge 550 ] || fail "nas2 timed out after $ms ms, before its 600 ms"
grep -q 'fresh3.corp.test from 198.18.1.1' "$T/q1.log" || fail "server 1 did not see nas1 meanwhile"
kill -CONT "$d2"
r=$(resolve nas2 files.corp.test) || fail "nas2 after its server came back: $r"
ok "dead server: nas2 timed out in $ms ms (600 configured) while nas1 kept resolving"

# 8. A VS without dns has no resolver and says so.
out=$(resolve nas3 files.corp.test 2>&1) && fail "nas3 resolved: $out"
grep -q "has no resolver" <<<"$out" || fail "nas3: $out"
[ "$(ctl --json show vs nas3 | jq -r .resolver.enabled)" = false ] || fail "show vs nas3"
ok "nas3 without dns: no resolver, said so"

# 9. Counters in show vs and show stats.
s1=$(ctl --json show vs nas1)
s2=$(ctl --json show vs nas2)
[ "$(jq -r .resolver.servers <<<"$s1")" = 198.18.1.2:53 ] || fail "show vs nas1: $s1"
[ "$(jq -r .resolver.servers <<<"$s2")" = "[2001:db8:1::2]:5353" ] || fail "show vs nas2: $s2"
jq -e '.resolver.counters | .queries >= 14 and .answers >= 10 and .cache_hits >= 2 and .negative >= 3 and .timeouts == 0' <<<"$s1" >/dev/null ||
	fail "nas1 counters: $(jq -c .resolver.counters <<<"$s1")"
jq -e '.resolver.counters | .timeouts == 1 and .answers >= 5 and .negative >= 1' <<<"$s2" >/dev/null ||
	fail "nas2 counters: $(jq -c .resolver.counters <<<"$s2")"
st=$(ctl --json show stats)
jq -e '.resolver.counters.timeouts == 1 and (.vs[] | select(.name == "nas1") | .resolver.counters.queries >= 14)' <<<"$st" >/dev/null ||
	fail "show stats: $(jq -c .resolver <<<"$st")"
ctl show vs nas1 | grep -q cache_hits || fail "coopctl table lacks the resolver counters"
ok "counters: per VS in show vs, per VS and totals in show stats"

# 10. Stopping coopd while a `resolve` waits for a silent server: the
# pending reply is cancelled, the lookup dropped, and coopd stops cleanly.
kill -STOP "$d2"
resolve nas2 pending.corp.test >"$T/pending.out" 2>&1 &
pending=$!
sleep 0.2
stop_coopd
wait "$pending" && fail "resolve answered after coopd stopped: $(cat "$T/pending.out")"
kill -CONT "$d2"
ok "stopped cleanly, with a resolve pending"
