#!/usr/bin/env bash
# End-to-end test of endpoints that follow the host (issue 14 item 6), on a
# dual-stack underlay: d1 and d2 have IPv6 and IPv4, v4 only IPv4 (it
# enrolls with the authority over IPv4), v6 only IPv6. Asserts:
#   a. every pair that shares an address family pings over the overlay; v4
#      and v6 share none: they do not, and `tpmeshctl status` lists exactly
#      that pair as unreachable
#   b. the endpoints each client derived from its addresses are the ones
#      the authority publishes (v4: only its IPv4 endpoint)
#   c. d1's IPv6 underlay address changes: d1 reports it, the authority
#      publishes it, v6 (which can reach d1 only over IPv6) configures the
#      new endpoint and pings d1 again, all without re-enrollment (d1's
#      WireGuard key and enrollment count stay)
# Exits 77 (skipped) without root, /dev/net/tun, wireguard-go or swtpm.
set -uo pipefail
# shellcheck source=lib-e2e.sh
. "$(cd "$(dirname "$0")" && pwd)/lib-e2e.sh"
e2e_begin endpoints_e2e

export W_DUAL_STACK=1
hosts=(d1 d2 v4 v6)

step "world: dual-stack underlay, authority on both families, four hosts"
world_create || fail "world_create"
authority_start || fail "authority_start"
declare -A fam=([d1]=46 [d2]=46 [v4]=4 [v6]=6)
for h in "${hosts[@]}"; do
  host_add "$h" "${fam[$h]}" || fail "host_add $h"
  host_enroll "$h" >"$W_DIR/hosts/$h/enroll.log" 2>&1 ||
    { cat "$W_DIR/hosts/$h/enroll.log" >&2; fail "$h did not enroll"; }
  client_start "$h" || fail "$h's client did not start"
done

reachable_pairs_ping() {
  local a b
  for a in "${hosts[@]}"; do
    for b in "${hosts[@]}"; do
      [[ "$a" == "$b" || "$a$b" == v4v6 || "$a$b" == v6v4 ]] && continue
      ping_pair "$a" "$b" || return 1
    done
  done
}

step "a. pairs that share a family connect; v4 <-> v6 is reported unreachable"
wait_until reachable_pairs_ping 30 || { reachable_pairs_ping; fail "a pair that shares a family does not ping"; }
echo "ok: the 10 ordered pairs that share an address family ping"
ping_pair v4 v6 && fail "v4 reaches v6, but they share no address family"
ping_pair v6 v4 && fail "v6 reaches v4, but they share no address family"
json=$(mesh_ctl -o json status) || fail "tpmeshctl status failed"
[[ $(jq '.unreachable_pairs' <<<"$json") == 1 ]] || { echo "$json" >&2; fail "want exactly 1 unreachable pair"; }
ids=$(jq -r '.unreachable[0] | .a + " " + .b' <<<"$json")
v4id=$(_w_json_str "${H_DIR[v4]}/node.json" node_id)
v6id=$(_w_json_str "${H_DIR[v6]}/node.json" node_id)
[[ "$ids" == "$v4id $v6id" || "$ids" == "$v6id $v4id" ]] || fail "the unreachable pair is $ids, want v4 and v6"
mesh_ctl status | grep -E "unreachable +v(4|6) .* <-> v(4|6) " || fail "tpmeshctl status does not show v4 <-> v6 unreachable"

step "b. the published endpoints are the ones the clients derived"
endpoints_of() { mesh_ctl -o json nodes show "$1" | jq -c '.endpoints'; }
[[ "$(endpoints_of v4)" == "[\"${H_UNDERLAY4[v4]}:$W_WG_PORT\"]" ]] || fail "v4 publishes $(endpoints_of v4)"
[[ "$(endpoints_of v6)" == "[\"[${H_UNDERLAY[v6]}]:$W_WG_PORT\"]" ]] || fail "v6 publishes $(endpoints_of v6)"
want="[\"[${H_UNDERLAY[d1]}]:$W_WG_PORT\",\"${H_UNDERLAY4[d1]}:$W_WG_PORT\"]"
[[ "$(endpoints_of d1)" == "$want" ]] || fail "d1 publishes $(endpoints_of d1), want $want"
grep -q "underlay endpoints: ${H_UNDERLAY4[v4]}:$W_WG_PORT (from this host's addresses)" \
  "$W_DIR/hosts/v4/client.log" || fail "v4's client did not log its derived endpoints"
echo "ok: v4 $(endpoints_of v4), v6 $(endpoints_of v6), d1 $(endpoints_of d1)"

step "c. d1's IPv6 address changes and its peers follow"
key_before=$(mesh_ctl -o json nodes show d1 | jq -r '.wg_public_key')
count_before=$(mesh_ctl -o json nodes show d1 | jq -r '.enroll_count')
old=${H_UNDERLAY[d1]}
new=fd00:77::1f1
dev=$(ip -n "${H_NS[d1]}" -o link show | awk -F': ' '/v[0-9][0-9]@/{print $2}' | cut -d@ -f1)
ip -n "${H_NS[d1]}" -6 address add "$new/64" dev "$dev" nodad &&
  ip -n "${H_NS[d1]}" -6 address del "$old/64" dev "$dev" || fail "cannot move d1 to $new"
H_UNDERLAY[d1]=$new
now_ms
moved_at=$NOW_MS
wait_until "[[ \$(endpoints_of d1) == *'[$new]:$W_WG_PORT'* ]]" 40 ||
  fail "the authority still publishes $(endpoints_of d1) for d1 40 s after its address changed"
d1key=$(tr -d '\n' <"${H_DIR[d1]}/wg.pub")
wait_until "[[ \$(host_wg v6 show endpoints) == *'$d1key'*'[$new]:$W_WG_PORT'* ]]" 20 ||
  { host_wg v6 show endpoints >&2; fail "v6 did not configure d1's new endpoint"; }
now_ms
echo "BENCH endpoint_follow_ms $((NOW_MS - moved_at)) ms"
wait_until "ping_pair v6 d1 && ping_pair d1 v6" 20 || fail "v6 and d1 do not ping after d1 moved"
[[ "$(mesh_ctl -o json nodes show d1 | jq -r '.wg_public_key')" == "$key_before" ]] ||
  fail "d1's WireGuard key changed: the move must not re-enroll it"
[[ "$(mesh_ctl -o json nodes show d1 | jq -r '.enroll_count')" == "$count_before" ]] ||
  fail "d1 enrolled again"
mesh_ctl -o json audit list | jq -e '[.audit[] | select(.action == "node.endpoints")] | length > 0' >/dev/null ||
  fail "no node.endpoints audit entry"
wait_until reachable_pairs_ping 20 || fail "not every reachable pair pings after the move"
echo "ok: d1 moved to $new; v6 follows; every reachable pair pings"
step "all checks passed"
