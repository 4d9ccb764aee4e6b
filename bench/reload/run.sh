#!/usr/bin/env bash
# Reload benchmarks (live reconfiguration of coopd, `coopctl reload`):
#  1. a reload adding one netns VS to N (1,000) running ones: from sending
#     the reload to the new VS answering, against a full restart of coopd
#     with the N+1 VSes (stop, start, until every VS answers);
#  2. a reload that changes nothing, N VSes: wall time, and the netlink
#     messages coopd sends during it (strace, separate rounds);
#  3. the echo request rate of a busy VS while another VS is added and
#     removed 100 times by reloads (back to back, and paced over 10 s),
#     against the same rate for as long without reloads; for reference,
#     the kernel's part of that churn alone (no coop) on the paced schedule.
# Rounds alternate (A, B, A, B...) and medians are reported; rewrites its
# section of bench/RESULTS.md.
#
# "Answers": a TCP connect to the VS's address and port 7 from inside its
# namespace, 64 bytes sent and echoed back (reload_probe polls it, 20 us
# between attempts).
set -u
export LC_ALL=C
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${B:-build}
# COOPD, COOPCTL and PROBE may point elsewhere, e.g. a build of one commit
# while the tree is being changed; COOP_BENCH_REV then names it for the
# record.
coopd=${COOPD:-$top/$B/coopd}
coopctl=${COOPCTL:-$top/$B/coopctl}
probe=${PROBE:-$top/$B/bench/reload/reload_probe}
N=${COOP_BENCH_VS:-1000}
RUNS=${COOP_BENCH_RUNS:-9}          # rounds of 1. (reload add / restart)
NOCHG=${COOP_BENCH_NOCHG:-15}       # rounds of 2. (wall time)
NLRUNS=${COOP_BENCH_NLRUNS:-3}      # rounds of 2. under strace
RR_RUNS=${COOP_BENCH_RR_RUNS:-5}    # rounds of 3.
RR_CONNS=${COOP_BENCH_RR_CONNS:-8}  # TCP connections of the echo load
CYCLES=${COOP_BENCH_CYCLES:-100}    # add + remove reloads per churn round
PACED_SECS=${COOP_BENCH_PACED_SECS:-10} # window of the paced churn rounds
RESULTS=${COOP_BENCH_RESULTS:-$top/bench/RESULTS.md}
P="crl$$"
T=$(mktemp -d)
sock=$T/admin.sock
conf=$T/coop.ini
coopd_pid=
strace_pid=
bg_pids=()

. "$top/bench/lib.sh"

cleanup() {
	local p
	[ -n "$strace_pid" ] && kill -INT "$strace_pid" 2>/dev/null && wait "$strace_pid" 2>/dev/null
	for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
	if [ -n "$coopd_pid" ]; then
		if kill -0 "$coopd_pid" 2>/dev/null; then
			kill -TERM "$coopd_pid"
			for _ in $(seq 100); do kill -0 "$coopd_pid" 2>/dev/null || break; sleep 0.1; done
			kill -0 "$coopd_pid" 2>/dev/null && kill -KILL "$coopd_pid"
		fi
		wait "$coopd_pid" 2>/dev/null
		# A coopd that did not stop cleanly (killed, or stopped by a
		# signal before its bring-up was done) leaves its crash-safe
		# record log (docs/netns.md); ours to remove with the namespaces.
		rm -f /run/coop/netns/coopd."$coopd_pid".*
	fi
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$P-"); do ip netns del "$ns" 2>/dev/null; done
	ip link del "${P}b" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "reload bench: $*" >&2
	if [ -f "$T/coopd.log" ]; then
		echo "--- coopd log (last 20 lines)" >&2
		tail -20 "$T/coopd.log" >&2
	fi
	exit 1
}

for f in "$coopd" "$coopctl" "$probe"; do
	[ -x "$f" ] || fail "$f is missing (make all build/bench/reload/reload_probe)"
done
# The run uses copies: a rebuild of the tree meanwhile must not change the
# coopd that the restart rounds start.
cp "$coopd" "$coopctl" "$probe" "$T/" || fail "cannot copy the binaries"
coopd=$T/$(basename "$coopd"); coopctl=$T/$(basename "$coopctl"); probe=$T/$(basename "$probe")
command -v jq >/dev/null || fail "jq is missing (tools/install-deps.sh)"
if ! command -v strace >/dev/null; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends strace >/dev/null \
		|| fail "cannot install strace"
fi

# --- configurations ---------------------------------------------------------
# base: N netns VSes v0..v(N-1), each in its own namespace created by coop
# (P-I), address 198.18.0.1/32, an echo listener on tcp:7. +new adds vnew
# (namespace P-new) last. +busy adds the VS of the request-rate rounds,
# reached from the client namespace over a veth.
vs_base() {
	printf '[global]\nworkers = 2\nadmin_socket = %s\ndrain_timeout = 0\n\n' "$sock"
	for i in $(seq 0 $((N - 1))); do
		printf '[vs v%d]\nnamespace = %s-%d\naddresses = 198.18.0.1/32\nlisten = tcp:7 echo\n\n' "$i" "$P" "$i"
	done
}
vs_busy() {
	printf '[vs busy]\nnamespace = %s-busy\ninterface = %sb\naddresses = 198.18.5.1/24\nlisten = tcp:7 echo\n\n' "$P" "$P"
}
vs_new() {
	printf '[vs vnew]\nnamespace = %s-new\naddresses = 198.18.0.1/32\nlisten = tcp:7 echo\n\n' "$P"
}
vs_base >"$T/base.ini"
{ cat "$T/base.ini"; vs_new; } >"$T/new.ini"
{ cat "$T/base.ini"; vs_busy; } >"$T/busy.ini"
{ cat "$T/busy.ini"; vs_new; } >"$T/busynew.ini"
for i in $(seq 0 $((N - 1))); do echo "/run/netns/$P-$i"; done >"$T/ns_base"
{ cat "$T/ns_base"; echo "/run/netns/$P-new"; } >"$T/ns_new"

# The client namespace and the busy VS's link must exist before a file
# naming the link is loaded (--check looks for it too).
ip netns add "$P-cl" || fail "cannot create namespace $P-cl"
ip link add "${P}b" type veth peer name "${P}bc" || fail "cannot create veth ${P}b"
ip link set "${P}bc" netns "$P-cl"
ip netns exec "$P-cl" sh -c "ip link set lo up && ip link set ${P}bc up && ip addr add 198.18.5.2/24 dev ${P}bc"

for f in base new busy busynew; do
	"$coopd" --check -c "$T/$f.ini" >/dev/null 2>"$T/check.err" || fail "coopd --check $f.ini: $(cat "$T/check.err")"
done

now() { echo "$EPOCHREALTIME"; }

# settle: wait (at most 30 s) until the kernel has freed the namespaces
# removed before (coopd's stop, removed VSes): it frees them in the
# background for seconds after, on the same CPUs, and a round must not pay
# for the one before. Done when the live network namespaces
# (/proc/slabinfo) are at most those present when the bench started that
# are no /run/netns mount, plus the /run/netns mounts now, plus 30 (slab
# granularity, other users of the machine).
ns_live() { awk '$1 == "net_namespace" {print $2}' /proc/slabinfo 2>/dev/null; }
ns_mounted() { ls /run/netns 2>/dev/null | wc -l; }
ns_other=$(( $(ns_live || echo 0) - $(ns_mounted) ))
settled=0; unsettled=0
settle() {
	local live
	[ -r /proc/slabinfo ] || return 0
	for _ in $(seq 300); do
		live=$(ns_live)
		[ "$live" -le $((ns_other + $(ns_mounted) + 30)) ] && { settled=$((settled + 1)); return 0; }
		sleep 0.1
	done
	unsettled=$((unsettled + 1))
	echo "   (kernel still has $live network namespaces after 30 s, $((ns_other + $(ns_mounted))) expected; going on)"
}
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f\n", (b - a) * 1000}'; }

# start_coopd FILE: coopd on a copy of FILE at $conf; sets t_start and
# coopd_pid; the caller waits for the VSes to answer.
start_coopd() {
	cp "$1" "$conf"
	t_start=$EPOCHREALTIME
	"$coopd" -c "$conf" >>"$T/coopd.log" 2>&1 &
	coopd_pid=$!
}

stop_coopd() {
	kill -TERM "$coopd_pid"
	wait "$coopd_pid"
	local rc=$?
	coopd_pid=
	[ "$rc" -eq 0 ] || fail "coopd exited with status $rc when stopped"
	left=$(ls /run/netns 2>/dev/null | grep "^$P-" | grep -cvx "$P-cl")
	[ "$left" -eq 0 ] || fail "coopd stopped but left $left of its namespaces in /run/netns"
}

# check_reply JSON ADDED REMOVED KEPT: the lists of a reload reply.
check_reply() {
	local r=$1
	echo "$r" | jq -e --arg a "$2" --arg r "$3" --argjson k "$4" '
		(.added | join(",")) == $a and (.removed | join(",")) == $r and
		(.changed | length) == 0 and (.rebuilt | length) == 0 and (.kept | length) == $k' \
		>/dev/null 2>&1 || fail "unexpected reload reply (want added [$2] removed [$3], $4 kept): $(echo "$r" | cut -c1-300)"
}

# reload_to FILE ADDED REMOVED KEPT: install FILE, reload, check the reply;
# prints the reply time in ms.
reload_to() {
	local out
	out=$("$probe" reload "$sock" "$conf" "$1") || fail "reload to $(basename "$1") failed: $(echo "$out" | tail -1 | cut -c1-300)"
	check_reply "$(echo "$out" | tail -1)" "$2" "$3" "$4"
	echo "$out" | head -1
}

echo "reload bench: $N netns VSes, prefix $P, tree at $(git -C "$top" describe --always --dirty 2>/dev/null || echo '?')"
start_coopd "$T/base.ini"
out=$("$probe" up "$t_start" "$T/ns_base" 198.18.0.1 7) || fail "coopd did not bring up $N VSes"
first_up=$(echo "$out" | awk '{printf "%.1f", $1}')
echo "  coopd up with $N VSes in $first_up ms"

# --- 1. adding one VS: reload against restart -----------------------------
echo "1. reload adding 1 VS to $N vs restart with $((N + 1)), $RUNS rounds"
for f in add add_reply add_ms remove restart stop ratio; do : >"$T/$f"; done
for r in $(seq "$RUNS"); do
	settle
	out=$("$probe" add "$sock" "$conf" "$T/new.ini" "/run/netns/$P-new" 198.18.0.1 7) \
		|| fail "reload adding vnew: $(echo "$out" | tail -1 | cut -c1-300)"
	check_reply "$(echo "$out" | tail -1)" vnew "" "$N"
	echo "$out" | tail -1 | jq -r '.ms // empty' | awk '{printf "%.3f\n", $1}' >>"$T/add_ms"
	read -r add add_rep probes <<<"$(echo "$out" | head -1)"
	echo "$add" >>"$T/add"; echo "$add_rep" >>"$T/add_reply"
	reload_to "$T/base.ini" "" vnew "$N" >>"$T/remove"
	[ ! -e "/run/netns/$P-new" ] || fail "vnew's namespace is still there after the reload removing it"

	t0=$(now)
	stop_coopd
	ms_since "$t0" >>"$T/stop"
	start_coopd "$T/new.ini"
	out=$("$probe" up "$t_start" "$T/ns_new" 198.18.0.1 7) || fail "restarted coopd did not bring up $((N + 1)) VSes"
	read -r rst late <<<"$out"
	echo "$rst" >>"$T/restart"
	awk -v a="$add" -v b="$rst" 'BEGIN {printf "%.1f\n", b / a}' >>"$T/ratio"
	reload_to "$T/base.ini" "" vnew "$N" >>"$T/remove"
	printf '  round %d: reload add %s ms (reply %s ms, %s probes), remove %s ms; restart %s ms (stop %s ms; VSes not up when the last was: %s); restart/reload %s\n' \
		"$r" "$add" "$add_rep" "$probes" "$(tail -1 "$T/remove")" "$rst" "$(tail -1 "$T/stop")" "$late" "$(tail -1 "$T/ratio")"
done
add=$(median %.3f <"$T/add"); add_rep=$(median %.3f <"$T/add_reply"); add_ms=
[ -s "$T/add_ms" ] && add_ms="; coopd's own figure: $(median %.3f <"$T/add_ms") ms"
remove=$(median %.3f <"$T/remove")
restart=$(median %.1f <"$T/restart"); stop=$(median %.1f <"$T/stop")
ratio_med=$(median %.1f <"$T/ratio")
ratio=$(awk -v a="$add" -v b="$restart" 'BEGIN {printf "%.1f", b / a}')
ratio_lo=$(sort -n "$T/ratio" | head -1); ratio_hi=$(sort -n "$T/ratio" | tail -1)
echo "   reload add: $add ms to answering (reply $add_rep ms), restart: $restart ms (+ stop $stop ms), restart/reload $ratio (per round: median $ratio_med, $ratio_lo..$ratio_hi)"

# --- 2. reload with no change -------------------------------------------------
echo "2. reload with no change, $N VSes: $NOCHG rounds, then $NLRUNS under strace"
for f in nc_ctl nc_sock nc_rep; do : >"$T/$f"; done
settle
for r in $(seq "$NOCHG"); do
	out=$("$probe" exec "$coopctl" -s "$sock" --json reload) || fail "coopctl reload: $(echo "$out" | head -1 | cut -c1-300)"
	check_reply "$(echo "$out" | head -1)" "" "" "$N"
	echo "$out" | tail -1 >>"$T/nc_ctl"
	# what coopd says it took (the reply's "ms")
	echo "$out" | head -1 | jq -r '.ms // empty' | awk '{printf "%.3f\n", $1}' >>"$T/nc_rep"
	out=$("$probe" reload "$sock") || fail "reload: $(echo "$out" | tail -1 | cut -c1-300)"
	check_reply "$(echo "$out" | tail -1)" "" "" "$N"
	echo "$out" | head -1 >>"$T/nc_sock"
done
nc_ctl=$(median %.3f <"$T/nc_ctl"); nc_sock=$(median %.3f <"$T/nc_sock")
nc_rep=
[ -s "$T/nc_rep" ] && nc_rep=$(median %.3f <"$T/nc_rep")
nc_rep_md=
[ -n "$nc_rep" ] && nc_rep_md="; coopd's own figure (the reply's \`ms\`): $nc_rep ms"
echo "   coopctl reload: $nc_ctl ms wall (range $(sort -n "$T/nc_ctl" | head -1)..$(sort -n "$T/nc_ctl" | tail -1)); admin socket request to reply: $nc_sock ms${nc_rep:+; coopd reports $nc_rep ms}"

# strace_reload FILE ADDED REMOVED KEPT: one reload to FILE with strace on
# every thread of coopd; prints "CALLS MESSAGES UNRESOLVED" for AF_NETLINK
# sockets: sendmsg/sendto/sendmmsg/write calls whose descriptor strace -yy
# names NETLINK, nlmsghdrs strace decoded in them, and calls on sockets
# whose type strace could not name.
strace_reload() {
	local tr="$T/strace.out" tasks traced out
	rm -f "$tr"
	strace -f -yy -qq -p "$coopd_pid" -e trace=sendmsg,sendto,sendmmsg,write -o "$tr" 2>"$T/strace.err" &
	strace_pid=$!
	# attached once every thread has a tracer
	for _ in $(seq 500); do
		tasks=$(ls "/proc/$coopd_pid/task" | wc -l)
		traced=$(grep -l '^TracerPid:[[:space:]]*[1-9]' /proc/"$coopd_pid"/task/*/status 2>/dev/null | wc -l)
		[ "$traced" -eq "$tasks" ] && break
		sleep 0.01
	done
	[ "$traced" -eq "$tasks" ] || fail "strace did not attach to every thread of coopd ($traced of $tasks)"
	out=$("$probe" exec "$coopctl" -s "$sock" --json reload) || fail "coopctl reload under strace: $(echo "$out" | head -1 | cut -c1-300)"
	check_reply "$(echo "$out" | head -1)" "$2" "$3" "$4"
	kill -INT "$strace_pid"; wait "$strace_pid"; strace_pid=
	awk '
		$2 ~ /^(sendmsg|sendto|sendmmsg|write)\(/ {
			if ($2 ~ /<NETLINK:/) { calls++; msgs += gsub(/nlmsg_len=/, "&") }
			else if ($2 ~ /<socket:\[/) unres++
		}
		END { printf "%d %d %d\n", calls, msgs, unres }' "$tr"
}
: >"$T/nl"
for r in $(seq "$NLRUNS"); do
	strace_reload "$conf" "" "" "$N" >>"$T/nl"
	echo "   strace round $r: netlink calls, messages, unresolved sockets: $(tail -1 "$T/nl")"
done
nl_calls=$(awk '{print $1}' "$T/nl" | sort -n | tail -1)
nl_msgs=$(awk '{print $2}' "$T/nl" | sort -n | tail -1)
nl_unres=$(awk '{print $3}' "$T/nl" | sort -n | tail -1)
# Control: the same count on a reload that adds vnew must see netlink.
cp "$T/new.ini" "$conf"
strace_reload "$conf" vnew "" "$N" >"$T/nl_ctl"
read -r ctl_calls ctl_msgs ctl_unres <"$T/nl_ctl"
echo "   control, reload adding vnew under strace: netlink calls $ctl_calls, messages $ctl_msgs, unresolved $ctl_unres"
[ "$ctl_calls" -gt 0 ] || fail "strace saw no netlink call in a reload that adds a VS: the count does not work"
reload_to "$T/base.ini" "" vnew "$N" >/dev/null

# --- 3. request rate during add/remove reloads ------------------------------
# With reloads: the echo load runs while CYCLES add + remove reloads go,
# either back to back (measured from their start to the last reply) or
# paced over PACED_SECS (one every 0.45 PACED_SECS / CYCLES). Without: the
# same load, no reload, for as long. Kernel alone: the paced schedule with
# no coop involved, the namespace, lo, address and listeners made and
# dropped by reload_probe nschurn (what the kernel does for the VS). Per
# round: back to back with, without; paced with, without, kernel alone.
echo "3. echo rate of a busy VS, $RR_CONNS connections, during $CYCLES add+remove reload cycles vs none, $RR_RUNS rounds"
reload_to "$T/busy.ini" busy "" "$N" >/dev/null
echo "/run/netns/$P-cl" >"$T/ns_cl"
"$probe" up "$(now)" "$T/ns_cl" 198.18.5.1 7 >/dev/null || fail "busy VS does not answer from the client namespace"
# CPU ticks of coopd's control thread (the main thread, which reloads) and
# of the whole process
ctl_ticks() { awk '{print $14 + $15}' "/proc/$coopd_pid/task/$coopd_pid/stat"; }
all_ticks() { awk '{print $14 + $15}' "/proc/$coopd_pid/stat"; }
hz=$(getconf CLK_TCK)
start_at() { awk -v t="$EPOCHREALTIME" 'BEGIN {printf "%.6f", t + 0.3}'; }
# rate_with KIND: KIND b2b, paced or kernel; appends to $T/KIND.{with,secs,
# cmed,cmax,ctl,cpu} and sets rr, secs, nrel, cmed, cmax.
rate_with() {
	local k=$1 t c0 a0 c1 a1 rp cend
	settle
	t=$(start_at)
	c0=$(ctl_ticks); a0=$(all_ticks)
	case $k in
	b2b)
		ip netns exec "$P-cl" "$probe" rr 198.18.5.1 7 "$RR_CONNS" "$t" 0 >"$T/rr.out" &
		rp=$!; bg_pids+=("$rp")
		CHURN_VS=vnew "$probe" churn "$sock" "$conf" "$T/busy.ini" "$T/busynew.ini" "$CYCLES" "$t" >"$T/churn.out" \
			|| fail "churn failed: $(cat "$T/churn.out")"
		kill -USR1 "$rp";;
	paced)
		ip netns exec "$P-cl" "$probe" rr 198.18.5.1 7 "$RR_CONNS" "$t" "$PACED_SECS" >"$T/rr.out" &
		rp=$!; bg_pids+=("$rp")
		CHURN_VS=vnew "$probe" churn "$sock" "$conf" "$T/busy.ini" "$T/busynew.ini" "$CYCLES" "$t" "$PACED_SECS" >"$T/churn.out" \
			|| fail "churn failed: $(cat "$T/churn.out")";;
	kernel)
		ip netns exec "$P-cl" "$probe" rr 198.18.5.1 7 "$RR_CONNS" "$t" "$PACED_SECS" >"$T/rr.out" &
		rp=$!; bg_pids+=("$rp")
		"$probe" nschurn 2 "$CYCLES" "$t" "$PACED_SECS" >"$T/churn.out" || fail "nschurn failed";;
	esac
	wait "$rp" || fail "echo load failed ($k)"
	bg_pids=()
	c1=$(ctl_ticks); a1=$(all_ticks)
	read -r rr secs <"$T/rr.out"
	read -r nrel cmed cmax cend <"$T/churn.out"
	awk -v e="$cend" -v s="$secs" 'BEGIN {exit !(e <= s + 0.05)}' \
		|| echo "   ($k: the last operation ended at $cend s, after the $secs s measured)"
	echo "$rr" >>"$T/$k.with"; echo "$secs" >>"$T/$k.secs"
	echo "$cmed" >>"$T/$k.cmed"; echo "$cmax" >>"$T/$k.cmax"
	awk -v c="$((c1 - c0))" -v hz="$hz" -v n="$nrel" 'BEGIN {printf "%.2f\n", c * 1000 / hz / n}' >>"$T/$k.ctl"
	awk -v c="$((a1 - a0))" -v hz="$hz" -v s="$secs" 'BEGIN {printf "%.2f\n", c / hz / s}' >>"$T/$k.cpu"
}
# rate_without KIND SECS: appends to $T/KIND.{without,cpu_without}; sets rq.
rate_without() {
	local k=$1 t a0 a1 out qsecs
	settle
	t=$(start_at)
	a0=$(all_ticks)
	out=$(ip netns exec "$P-cl" "$probe" rr 198.18.5.1 7 "$RR_CONNS" "$t" "$2") || fail "echo load failed (without reloads)"
	a1=$(all_ticks)
	read -r rq qsecs <<<"$out"
	echo "$rq" >>"$T/$k.without"
	awk -v c="$((a1 - a0))" -v hz="$hz" -v s="$qsecs" 'BEGIN {printf "%.2f\n", c / hz / s}' >>"$T/$k.cpu_without"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f\n", a / b}'; }
for k in b2b paced kernel; do for f in with without ratio secs cmed cmax ctl cpu cpu_without; do : >"$T/$k.$f"; done; done
for r in $(seq "$RR_RUNS"); do
	rate_with b2b
	rate_without b2b "$secs"
	ratio "$rr" "$rq" >>"$T/b2b.ratio"
	printf '  round %d, back to back: with reloads %s/s over %s s (%s reloads, median %s ms, max %s ms; control thread %s ms CPU each; coopd %s CPUs), without %s/s (coopd %s CPUs): %s\n' \
		"$r" "$rr" "$secs" "$nrel" "$cmed" "$cmax" "$(tail -1 "$T/b2b.ctl")" "$(tail -1 "$T/b2b.cpu")" \
		"$rq" "$(tail -1 "$T/b2b.cpu_without")" "$(tail -1 "$T/b2b.ratio")"
	rate_with paced
	rp_rr=$rr; rp_n=$nrel; rp_med=$cmed; rp_max=$cmax
	rate_without paced "$PACED_SECS"
	cp "$T/paced.without" "$T/kernel.without"
	rate_with kernel
	ratio "$rp_rr" "$rq" >>"$T/paced.ratio"
	ratio "$rr" "$rq" >>"$T/kernel.ratio"
	printf '  round %d, paced over %s s: with reloads %s/s (%s reloads, median %s ms, max %s ms; control thread %s ms CPU each), without %s/s, kernel alone %s/s (%s operations, median %s ms): %s, kernel alone %s\n' \
		"$r" "$PACED_SECS" "$rp_rr" "$rp_n" "$rp_med" "$rp_max" "$(tail -1 "$T/paced.ctl")" "$rq" "$rr" "$nrel" "$cmed" \
		"$(tail -1 "$T/paced.ratio")" "$(tail -1 "$T/kernel.ratio")"
done
# rate_sum KIND: the medians of KIND's rounds as KIND_with, KIND_ratio...
rate_sum() {
	local k=$1 w q
	w=$(median %.0f <"$T/$k.with"); q=$(median %.0f <"$T/$k.without")
	printf -v "${k}_with" %s "$w"
	printf -v "${k}_without" %s "$q"
	printf -v "${k}_ratio" %s "$(ratio "$w" "$q")"
	printf -v "${k}_rmed" %s "$(median %.3f <"$T/$k.ratio")"
	printf -v "${k}_lo" %s "$(sort -n "$T/$k.ratio" | head -1)"
	printf -v "${k}_hi" %s "$(sort -n "$T/$k.ratio" | tail -1)"
	printf -v "${k}_secs" %s "$(median %.2f <"$T/$k.secs")"
	printf -v "${k}_cmed" %s "$(median %.3f <"$T/$k.cmed")"
	printf -v "${k}_cmax" %s "$(sort -n "$T/$k.cmax" | tail -1)"
	printf -v "${k}_ctl" %s "$(median %.2f <"$T/$k.ctl")"
	printf -v "${k}_cpuw" %s "$(median %.2f <"$T/$k.cpu")"
	printf -v "${k}_cpuq" %s "$(median %.2f <"$T/$k.cpu_without")"
}
rate_sum b2b; rate_sum paced; rate_sum kernel
echo "   back to back: with reloads $b2b_with/s, without $b2b_without/s: ratio $b2b_ratio (per round: median $b2b_rmed, $b2b_lo..$b2b_hi); reloads took $b2b_secs s, $b2b_cmed ms each, $b2b_ctl ms of control-thread CPU each"
echo "   paced over $PACED_SECS s: with reloads $paced_with/s, without $paced_without/s: ratio $paced_ratio (per round: median $paced_rmed, $paced_lo..$paced_hi); $paced_cmed ms each, $paced_ctl ms of control-thread CPU each"
echo "   kernel alone, paced: $kernel_with/s: ratio $kernel_ratio (per round: median $kernel_rmed, $kernel_lo..$kernel_hi); $kernel_cmed ms per operation"

stop_coopd
# anything coopd found worth a warning during the run
warns=$(grep -cE ' (warning|error):' "$T/coopd.log")
if [ "$warns" -gt 0 ]; then
	echo "   coopd logged $warns warnings/errors; the first, with the lines before them:"
	grep -B3 -m5 -E ' (warning|error):' "$T/coopd.log" | cut -c1-400 | sed 's/^/     /'
fi

# --- record -------------------------------------------------------------------
goal() { awk -v v="$1" -v g="$3" -v op="$2" 'BEGIN { ok = op == "<=" ? v <= g : v >= g; print ok ? "met" : "**not met**" }'; }
section=$(cat <<MD
## Live reconfiguration: \`coopctl reload\`

Measured $(date -u +%Y-%m-%d) on $(uname -r), $(nproc) CPUs ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)); \`make bench\` (bench/reload/run.sh)${COOP_BENCH_REV:+, coopd built from $COOP_BENCH_REV}. One coopd, 2 workers, \`drain_timeout = 0\`; $N netns VSes, each in a namespace coop creates, with address 198.18.0.1/32 and an echo listener on tcp:7. A VS **answers** when a TCP connect to its address from inside its namespace and a 64-byte echo round trip succeed (polled every 20 µs by bench/reload/reload_probe.c).

| figure | coop | alternative, same run | ratio | goal |
|---|---|---|---|---|
| reload adding 1 netns VS to $N running: reload sent to the new VS answering (median of $RUNS rounds; the reload's reply came at $add_rep ms$add_ms) | $add ms | restart of coopd with $((N + 1)) VSes, start to the last VS answering: $restart ms (stopping the $N before it: $stop ms more; the kernel is still freeing their namespaces meanwhile: the bench's first start of $N, with nothing being freed, took $first_up ms) | restart / reload, median of the rounds' ratios: $ratio_med (of the medians: $ratio; rounds: $ratio_lo to $ratio_hi) | ≤ 5 ms: $(goal "$add" "<=" 5); ≥ 50: $(goal "$ratio_med" ">=" 50) |
| reload removing that VS again (reply) | $remove ms | | | |
| reload with no change, $N VSes: wall time of \`coopctl --json reload\` (median of $NOCHG) | $nc_ctl ms | admin socket, request to reply: $nc_sock ms$nc_rep_md | | ≤ 20 ms: $(goal "$nc_ctl" "<=" 20) |
| netlink messages coopd sends during a no-change reload (strace -f -yy on every thread; sendmsg/sendto/sendmmsg/write on AF_NETLINK sockets, max of $NLRUNS rounds) | $nl_calls calls, $nl_msgs messages | control, reload adding 1 VS: $ctl_calls calls, $ctl_msgs messages | | 0: $(goal "$nl_calls" "<=" 0) |
| echo request/response of a busy VS (64 B, $RR_CONNS connections from a client namespace over a veth) while another VS is added and removed $CYCLES times by reloads **back to back** ($((2 * CYCLES)) reloads of $((N + 1))-$((N + 2)) VSes: $b2b_secs s, median $b2b_cmed ms each, max $b2b_cmax ms; $b2b_ctl ms of CPU each on coopd's control thread) | $b2b_with /s | same duration, no reload: $b2b_without /s | $b2b_rmed (of the medians: $b2b_ratio; rounds: $b2b_lo to $b2b_hi) | ≥ 0.97: $(goal "$b2b_rmed" ">=" 0.97) |
| the same, the $((2 * CYCLES)) reloads **paced** over $PACED_SECS s (one every $(awk -v s="$PACED_SECS" -v c="$CYCLES" 'BEGIN {printf "%.0f", 450 * s / c}') ms; median $paced_cmed ms each, max $paced_cmax ms; $paced_ctl ms of control-thread CPU each) | $paced_with /s | same $PACED_SECS s, no reload: $paced_without /s | $paced_rmed (of the medians: $paced_ratio; rounds: $paced_lo to $paced_hi) | ≥ 0.97: $(goal "$paced_rmed" ">=" 0.97) |
| for reference: the kernel's part alone on the paced schedule, no coop (reload_probe nschurn: namespace, lo up, 198.18.0.1/32, 2 listeners; then closed; median $kernel_cmed ms per step) | $kernel_with /s | the same no-reload rounds: $paced_without /s | $kernel_rmed (of the medians: $kernel_ratio; rounds: $kernel_lo to $kernel_hi) | |

Restart and reload rounds alternate ($RUNS each), and so do the rate rounds with and without reloads ($RR_RUNS each); a ratio is the median of the ratios of each round's two adjacent measurements (robust to the machine's load drifting between rounds), the ratio of the medians given next to it; before each round the bench waits until the kernel has freed the namespaces of the one before (it does so in the background for seconds after a stop; $unsettled of $((settled + unsettled)) waits gave up after 30 s). coopd's CPU use during the rate rounds (of $(nproc) CPUs): back to back $b2b_cpuw with reloads, $b2b_cpuq without; paced $paced_cpuw and $paced_cpuq; kernel alone $kernel_cpuw. The kernel's own work for the namespaces added and removed (freeing one runs in a kernel worker, not charged to coopd) competes for the same $(nproc) CPUs. Calls on sockets strace could not name: $nl_unres.
MD
)
printf '%s\n' "$section" | bench_record reload "$RESULTS"
