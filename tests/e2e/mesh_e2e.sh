#!/usr/bin/env bash
# End-to-end test of the tpmesh mesh: an authority and six simulated hosts
# (network namespace + swtpm + wireguard-go + tpmesh-client each) on an IPv6
# underlay, built with scripts/lib-mesh.sh. Asserts:
#   a. four hosts enroll and converge: every ordered pair pings over the overlay
#   b. a fifth host joins: all pairs ping again
#   c. a revoked host is cut off by every peer (BENCH revocation_cutoff_ms),
#      its client exits 4 and removes its interface; even with its keys it
#      reaches nobody; the others still ping each other
#   d. authority down: the mesh keeps working; back up: clients reconnect on
#      their own (a sixth host joins and everyone pings it)
#   e. a client restarted while the authority is down applies its saved config
#      and pings work (also after its wireguard-go was killed); at the end
#      `tpmeshctl status` shows converged == active
# Exits 77 (skipped) without root, /dev/net/tun, wireguard-go or swtpm.
# Everything is cleaned up on exit, also on failure or Ctrl-C.
set -uo pipefail
# shellcheck source=lib-e2e.sh
. "$(cd "$(dirname "$0")" && pwd)/lib-e2e.sh"
e2e_begin mesh_e2e

join() {  # NAME...: add, enroll, start
  local h
  for h in "$@"; do
    host_add "$h" || fail "host_add $h"
    host_enroll "$h" >"$W_DIR/hosts/$h/enroll.log" 2>&1 ||
      { cat "$W_DIR/hosts/$h/enroll.log" >&2; fail "$h did not enroll"; }
    client_start "$h" || fail "$h's client did not start"
  done
}

# knows_key PUBKEY HOSTS...: some host still has PUBKEY configured as a peer.
knows_key() {
  local key=$1 h
  shift
  for h in "$@"; do
    [[ "$(wg show "${H_IF[$h]}" peers 2>&1)" == *"$key"* ]] && return 0
  done
  return 1
}

status_converged() {  # the authority reports converged == active == $1
  local out
  out=$(mesh_ctl -o json status) || return 1
  [[ "$out" =~ \"active\":\ ([0-9]+) ]] && local active=${BASH_REMATCH[1]}
  [[ "$out" =~ \"converged\":\ ([0-9]+) ]] && local converged=${BASH_REMATCH[1]}
  [[ "${active:-x}" == "$1" && "${converged:-y}" == "$1" ]]
}

step "world: underlay, authority, four hosts"
world_create || fail "world_create"
echo "world $W_PREFIX in $W_DIR"
authority_start || fail "authority_start"

step "a. four hosts enroll and converge"
join h1 h2 h3 h4
converge 20 h1 h2 h3 h4
echo "ok: all 12 ordered pairs of h1..h4 ping"

step "b. a fifth host joins"
join h5
converge 20 h1 h2 h3 h4 h5
echo "ok: all 20 ordered pairs of h1..h5 ping"

step "c. revoke h3"
wg_snapshot h3 || fail "cannot snapshot h3's interface"
key=$(<"${H_DIR[h3]}/wg.pub")
others=(h1 h2 h4 h5)
knows_key "$key" "${others[@]}" || fail "before revocation no peer has h3's key: the check would be void"
mesh_ctl nodes revoke h3 --reason e2e >/dev/null || fail "tpmeshctl nodes revoke h3 failed"
now_ms
revoked_at=$NOW_MS
WAIT_INTERVAL=0.05 wait_until "! knows_key $key ${others[*]}" 15 ||
  fail "15 s after the revocation some peer still accepts h3's key"
now_ms
echo "BENCH revocation_cutoff_ms $((NOW_MS - revoked_at)) ms"
H_MEMBER[h3]=0
client_wait_exit h3 15 || fail "h3's client still runs 15 s after its revocation"
((CLIENT_RC == 4)) || fail "h3's client exited with $CLIENT_RC, want 4 (revoked)"
ip -n "${H_NS[h3]}" link show "${H_IF[h3]}" >/dev/null 2>&1 &&
  fail "h3's interface ${H_IF[h3]} still exists after its revocation"
echo "ok: h3's client exited with 4 and removed ${H_IF[h3]}"
# A revoked host that keeps its keys and ignores the authority: its
# interface comes back from the snapshot, and still nobody answers it.
wg_replay h3 || fail "cannot recreate h3's interface"
pids=()
for h in "${others[@]}"; do
  ip netns exec "${H_NS[h3]}" ping -6 -n -q -c3 -i0.3 -W1 "${H_OVERLAY[$h]}" >/dev/null 2>&1 &
  pids+=("$!")
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" && fail "revoked h3 (with its old keys) still reaches ${others[$i]}"
done
ip -n "${H_NS[h3]}" link del "${H_IF[h3]}"
echo "ok: with its old keys, h3 reaches none of ${others[*]}"
converge 10 "${others[@]}"
echo "ok: the others still ping each other"

step "d. authority down: the mesh keeps working"
host_add h6 || fail "host_add h6"   # its TPM is manufactured meanwhile
authority_stop
sleep 2
converge 10 "${others[@]}"
echo "ok: with the authority down, all pairs of ${others[*]} ping"
authority_start || fail "authority restart"
host_enroll h6 >"$W_DIR/hosts/h6/enroll.log" 2>&1 ||
  { cat "$W_DIR/hosts/h6/enroll.log" >&2; fail "h6 did not enroll after the restart"; }
client_start h6 || fail "h6's client did not start"
members=(h1 h2 h4 h5 h6)
converge 40 "${members[@]}"
echo "ok: after the restart the clients reconnected: h6 joined and all 20 pairs ping"

step "e. a client restarts while the authority is down"
authority_stop
client_stop h1
ip -n "${H_NS[h1]}" link del "${H_IF[h1]}" || fail "cannot delete h1's interface"
wait_until "[[ ! -e /var/run/wireguard/${H_IF[h1]}.sock ]]" 5 || fail "h1's wireguard-go did not exit"
log=$W_DIR/hosts/h1/client.log
seen=$(wc -l <"$log")
client_start h1 || fail "h1's client did not restart"
wait_until "tail -n +$((seen + 1)) '$log' | grep -q 'applied saved generation'" 10 ||
  fail "h1's client did not apply its saved generation"
tail -n +$((seen + 1)) "$log" | grep 'applied saved generation'
# A crashed wireguard-go (SIGKILL) leaves its socket behind: not a blocker.
client_stop h2
wgpid=""
for pid in $(ip netns pids "${H_NS[h2]}"); do
  [[ "$(cat /proc/"$pid"/comm 2>/dev/null)" == wireguard-go ]] && wgpid=$pid
done
[[ -n "$wgpid" ]] || fail "no wireguard-go in h2's namespace"
kill -KILL "$wgpid"
wait_until "[[ ! -e /proc/$wgpid ]]" 5 || fail "h2's wireguard-go survived SIGKILL"
[[ -S /var/run/wireguard/${H_IF[h2]}.sock ]] || echo "note: no stale socket left this time"
client_start h2 || fail "h2's client did not recover from a killed wireguard-go"
converge 20 "${members[@]}"
echo "ok: h1 came back from its saved config, h2 from a killed wireguard-go; all pairs ping without the authority"
authority_start || fail "authority restart"
wait_until "status_converged ${#members[@]}" 60 ||
  { mesh_ctl status >&2; fail "tpmeshctl status: not converged == active == ${#members[@]}"; }
mesh_ctl status
echo "ok: converged == active == ${#members[@]}"
converge 10 "${members[@]}"
step "all checks passed"
