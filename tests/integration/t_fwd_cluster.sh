#!/usr/bin/env bash
# The XDP forwarder in a three-node cluster behind a real ECMP router: 200
# held TCP connections to the VIP; removing a node and adding it back breaks
# exactly the connections the live Maglev tables and flow caches predict
# (fwd lookup), every other one keeps working; full-size segments through
# a tunnel get ICMP fragmentation needed, never a black hole; the same
# removal and addition by reloading the nodes' files (coopctl reload), and
# a reload that changes what cannot change live is refused; a node that
# left the set (removed, reloaded away, moved) sends no tunnel any node
# decapsulates, and no tunnel reaches an address that is no VIP; the flow
# cache is stated per CPU; nothing is left behind. The scenario is
# tests/integration/fwd_cluster.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/fwd_cluster.sh"

fwc_setup
FWC_RELOAD=1 FWC_TRUST=1 fwc_scenario 200
