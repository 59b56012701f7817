#!/usr/bin/env bash
# End-to-end test of the kernel WireGuard backend: three simulated hosts
# (namespace + swtpm + tpmesh-client --wg-backend kernel) enroll and
# converge over kernel WireGuard interfaces, with no wireguard-go running;
# a restarted client takes over its existing kernel interface; `tpmesh-client
# status` reads the kernel device; a revoked host's client deletes its link;
# `--wg-backend auto` picks the kernel too.
# Where the kernel has no WireGuard (a probe namespace cannot create a link
# of type wireguard) the test says so plainly and exits 77 (skipped): then
# the kernel backend was checked only by the unit tests over a fake netlink
# socket (tests/unit/wg_kernel_test.cc) and tests/integration/wg_netlink_test.cc.
set -uo pipefail
if [[ $(id -u) -eq 0 ]] && command -v ip >/dev/null; then
  probe=tpmkprobe$$
  if ip netns add "$probe" 2>/dev/null; then
    if ! why=$(ip -n "$probe" link add tpmkprobe0 type wireguard 2>&1); then
      ip netns del "$probe"
      echo "SKIP: this kernel has no WireGuard ('ip link add type wireguard': $why);" \
        "the kernel backend did not run end to end here"
      exit 77
    fi
    ip netns del "$probe"
  fi
fi
# shellcheck source=lib-e2e.sh
. "$(cd "$(dirname "$0")" && pwd)/lib-e2e.sh"
e2e_begin kernel_wg_e2e

export W_WG_BACKEND=kernel

kind_of() {  # HOST: the link kind of HOST's interface ("" if none)
  ip -n "${H_NS[$1]}" -d -o link show dev "${H_IF[$1]}" 2>/dev/null |
    grep -o 'wireguard' | head -n 1
}

step "world: underlay, authority, three hosts on kernel WireGuard"
world_create || fail "world_create"
authority_start || fail "authority_start"
for h in k1 k2 k3; do
  host_add "$h" || fail "host_add $h"
  host_enroll "$h" >"$W_DIR/hosts/$h/enroll.log" 2>&1 ||
    { cat "$W_DIR/hosts/$h/enroll.log" >&2; fail "$h did not enroll"; }
  client_start "$h" || fail "$h's client did not start"
done
converge 20 k1 k2 k3
for h in k1 k2 k3; do
  [[ "$(kind_of "$h")" == wireguard ]] || fail "$h's ${H_IF[$h]} is not a kernel WireGuard link"
  grep -q 'WireGuard backend: kernel (created kernel WireGuard interface' \
    "$W_DIR/hosts/$h/client.log" || fail "$h's client did not log its kernel backend"
  for pid in $(ip netns pids "${H_NS[$h]}"); do
    [[ "$(cat /proc/"$pid"/comm 2>/dev/null)" == wireguard-go ]] && fail "wireguard-go runs for $h"
  done
done
echo "ok: every pair pings over kernel WireGuard; no wireguard-go"

step "a restarted client takes over its kernel interface; status reads it"
client_stop k1
W_WG_BACKEND=auto client_start k1 || fail "k1's client did not restart"
wait_until "grep -q 'taking over the existing kernel WireGuard interface' '$W_DIR/hosts/k1/client.log'" 10 ||
  fail "k1's client did not take over its interface"
converge 20 k1 k2 k3
out=$(ip netns exec "${H_NS[k1]}" "$W_BIN/tpmesh-client" status --state-dir "${H_DIR[k1]}" \
  --interface "${H_IF[k1]}" 2>&1)
[[ "$out" == *"(k2)"* && "$out" == *"(k3)"* ]] || { echo "$out" >&2; fail "status does not list k1's peers"; }
echo "ok: takeover with auto, and status over netlink"

step "a revoked host's client deletes its kernel link"
mesh_ctl nodes revoke k3 --reason e2e >/dev/null || fail "revoke k3"
H_MEMBER[k3]=0
client_wait_exit k3 15 || fail "k3's client still runs after its revocation"
((CLIENT_RC == 4)) || fail "k3's client exited with $CLIENT_RC, want 4"
[[ -z "$(kind_of k3)" ]] || fail "k3's kernel interface still exists"
converge 10 k1 k2
step "all checks passed"
