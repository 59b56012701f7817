#!/usr/bin/env bash
# End-to-end test of renewal on by default (issue 14, item 2), with the
# commands exactly as docs/operations.md writes them: the test reads the
# `tpmesh-client run`, `status` and `renew` lines from the docs and runs them
# verbatim on each host, in its namespace and in a private mount namespace
# where /var/lib/tpmesh is that host's state directory and
# /var/run/wireguard its own. The TPM is the default one: TPMESH_TCTI, as an
# operator's unit would set it, names the host's swtpm (this machine has no
# /dev/tpmrm0). An authority with 60 s node certificates and two hosts.
# Asserts:
#   a. the documented `run` line names no --tcti, and both hosts converge
#   b. alive across lifetimes: for 100 s every ping in both directions
#      answers, each host renewed at least 3 times (re-attested), and the
#      certificate each started with has ended
#   c. both daemons stopped until their certificates end: tpmeshctl status and
#      nodes list show both as expired; the documented `status` line exits 7
#      and says EXPIRED
#   d. back by itself: on a, the documented `renew` line enrolls the node
#      again (exit 0), then `run`; on b, `run` alone does it. Same node ids,
#      new WireGuard keys, both active, and they ping each other again
# Exits 77 (skipped) without root, /dev/net/tun, wireguard-go, swtpm, jq,
# openssl or unshare. Everything is cleaned up on exit, also on failure.
set -uo pipefail
# shellcheck source=lib-e2e.sh
. "$(cd "$(dirname "$0")" && pwd)/lib-e2e.sh"

REPO=$(cd "$(dirname "$0")/../.." && pwd)
e2e_diagnostics() {
  mesh_ctl nodes list 2>/dev/null | sed 's/^/nodes: /'
  mesh_ctl audit list --limit 20 2>/dev/null | sed 's/^/audit: /'
}
e2e_begin renewal_e2e jq openssl unshare mount

# The documented command lines (the first line of docs/operations.md that
# starts with "tpmesh-client VERB ").
doc_line() { grep -m1 -E "^tpmesh-client $1 " "$REPO/docs/operations.md"; }
RUN_LINE=$(doc_line run)
STATUS_LINE=$(doc_line status)
RENEW_LINE=$(doc_line renew)
for l in RUN_LINE STATUS_LINE RENEW_LINE; do
  [[ -n "${!l}" ]] || fail "docs/operations.md has no ${l%_LINE} command line"
  [[ "${!l}" == *"--state-dir /var/lib/tpmesh"* ]] ||
    fail "the documented ${l%_LINE} line does not use --state-dir /var/lib/tpmesh: '${!l}'"
done
[[ "$RUN_LINE" != *--tcti* ]] || fail "the documented run line names --tcti: '$RUN_LINE'"
[[ "$RUN_LINE" == *"--interface tpmesh0"* ]] || fail "the documented run line: '$RUN_LINE'"
echo "docs: $RUN_LINE"
echo "docs: $STATUS_LINE"
echo "docs: $RENEW_LINE"

# as_host HOST LINE: LINE (word-split, as a shell would) as HOST would run it.
# It execs: call it in a subshell, $(...) or &, whose pid is then LINE's.
as_host() {
  local h=$1 line=$2
  mkdir -p /run/wireguard "$W_DIR/hosts/$h/wireguard"
  # shellcheck disable=SC2086 # the documented line, split into its words
  TPMESH_TCTI=${H_TCTI[$h]} PATH="$W_BIN:$PATH" exec ip netns exec "${H_NS[$h]}" \
    unshare --mount --propagation private sh -c '
      mount -t tmpfs -o mode=0755 tmpfs /var/lib && mkdir -m 0700 /var/lib/tpmesh &&
      mount --bind "$1" /var/lib/tpmesh && mount --bind "$2" /run/wireguard || exit 70
      shift 2
      exec "$@"' sh "${H_DIR[$h]}" "$W_DIR/hosts/$h/wireguard" $line
}
# The documented run line as HOST's daemon, in the background.
doc_run() {
  local h=$1
  echo "--- client start $(date +%T.%N)" >>"$W_DIR/hosts/$h/client.log"
  as_host "$h" "$RUN_LINE" >>"$W_DIR/hosts/$h/client.log" 2>&1 &
  H_CLIENT_PID[$h]=$!
  wait_until "_w_link_up $h || ! _w_alive ${H_CLIENT_PID[$h]}" 10 && _w_alive "${H_CLIENT_PID[$h]}" ||
    fail "$h: '$RUN_LINE' did not bring tpmesh0 up"
}
node_json() { mesh_ctl -o json nodes list | jq -c --arg h "$1" '.nodes[] | select(.hostname == $h)'; }
node_status() { node_json "$1" | jq -r .status; }
renewals() { grep -c 'renewed the node certificate' "$W_DIR/hosts/$1/client.log"; }
cert_ended() { ! openssl x509 -in "$1" -noout -checkend 0 >/dev/null 2>&1; }

step "world: authority with 60 s node certificates, hosts a and b"
world_create || fail "world_create"
echo "world $W_PREFIX in $W_DIR"
printf 'node_cert_lifetime = "60s"\n' >"$W_DIR/authority.toml"
export W_AUTH_CONFIG=$W_DIR/authority.toml
authority_start || fail "authority_start"
hosts=(a b)
declare -A NODE_ID=() FIRST_KEY=()
for h in "${hosts[@]}"; do
  host_add "$h" || fail "host_add $h"
  H_IF[$h]=tpmesh0  # the documented interface name; one per namespace
  host_enroll "$h" >"$W_DIR/hosts/$h/enroll.log" 2>&1 || { cat "$W_DIR/hosts/$h/enroll.log" >&2; fail "$h did not enroll"; }
  NODE_ID[$h]=$(node_json "$h" | jq -r .node_id)
  FIRST_KEY[$h]=$(pub "$h")
  cp "${H_DIR[$h]}/node.crt" "$W_DIR/hosts/$h/first.crt"
done

step "a. the documented run line on both hosts"
for h in "${hosts[@]}"; do doc_run "$h"; done
converge 30 "${hosts[@]}"
for h in "${hosts[@]}"; do
  grep -q "renews the node certificate at half life with the TPM at ${H_TCTI[$h]}" \
    "$W_DIR/hosts/$h/client.log" || fail "$h's daemon does not say it renews with its TPM"
done
echo "ok: a and b ping each other; both daemons renew with the default TPM"

step "b. alive across lifetimes: 100 s of pings while the certificates renew"
end=$((SECONDS + 100))
while ((SECONDS < end)); do
  ping_all a b || { sleep 1; ping_all a b || fail "a and b lost each other at t=$((SECONDS - E2E_T0)) s"; }
  sleep 5
done
for h in "${hosts[@]}"; do
  n=$(renewals "$h")
  ((n >= 3)) || fail "$h renewed $n times in 100 s with 60 s certificates, want >= 3"
  cert_ended "$W_DIR/hosts/$h/first.crt" || fail "$h's first certificate has not ended: the wait proves nothing"
  cert_ended "${H_DIR[$h]}/node.crt" && fail "$h's current certificate has ended"
  [[ "$(node_status "$h")" == active ]] || fail "$h is $(node_status "$h"), want active"
  echo "ok: $h renewed $n times; its first certificate has ended, it is still active"
done

step "c. both daemons stopped until their certificates end: shown as expired"
for h in "${hosts[@]}"; do client_stop "$h"; done
for h in "${hosts[@]}"; do
  # SIGTERM aborts the long poll in flight: a stop, not an unreachable authority.
  grep -q 'authority_unreachable' "$W_DIR/hosts/$h/client.log" &&
    fail "$h's daemon logged its own stop as an unreachable authority"
done
WAIT_INTERVAL=1 wait_until "cert_ended ${H_DIR[a]}/node.crt && cert_ended ${H_DIR[b]}/node.crt" 75 ||
  fail "the node certificates did not end within 75 s"
# The authority reads "expired" off its clock (a certificate is valid
# through its notAfter second): give it that second.
WAIT_INTERVAL=0.5 wait_until "[[ \$(node_status a) == expired && \$(node_status b) == expired ]]" 3 ||
  fail "a is $(node_status a), b is $(node_status b) in nodes list after their certificates ended, want expired"
status_json=$(mesh_ctl -o json status) || fail "tpmeshctl status failed"
[[ "$(jq .expired <<<"$status_json")" == 2 && "$(jq .active <<<"$status_json")" == 0 ]] ||
  fail "tpmeshctl status: want 2 expired, 0 active: $status_json"
mesh_ctl status | tee "$W_DIR/status.txt"
grep -q ' expired ' "$W_DIR/status.txt" || fail "tpmeshctl status does not show the expired nodes"
out=$(as_host b "$STATUS_LINE" 2>&1)
rc=$?
echo "$out" | head -n 4
((rc == 7)) || fail "'$STATUS_LINE' exited $rc for an expired node, want 7"
[[ "$out" == *"EXPIRED at"* ]] || fail "'$STATUS_LINE' does not say the certificate expired"
echo "ok: both shown as expired; b's status exits 7 and says EXPIRED"

step "d. back by themselves: 'renew' on a, 'run' alone on b"
out=$(as_host a "$RENEW_LINE" 2>&1)
rc=$?
((rc == 0)) || { echo "$out" >&2; fail "'$RENEW_LINE' failed on a (exit $rc)"; }
echo "$out" | tail -n 3
[[ "$out" == *"enrolling again as node ${NODE_ID[a]}"* ]] || fail "renew on a did not enroll again"
doc_run a
doc_run b
WAIT_INTERVAL=0.5 wait_until "[[ \$(node_status a) == active && \$(node_status b) == active ]]" 45 ||
  fail "a is $(node_status a), b is $(node_status b) after recovery, want both active"
grep -q 'the node certificate expired: enrolling again with the TPM' "$W_DIR/hosts/b/client.log" ||
  fail "b's daemon did not say it enrolled again"
for h in "${hosts[@]}"; do
  [[ "$(node_json "$h" | jq -r .node_id)" == "${NODE_ID[$h]}" ]] || fail "$h came back as another node"
  [[ "$(pub "$h")" != "${FIRST_KEY[$h]}" ]] || fail "$h came back with its old WireGuard key"
done
converge 30 "${hosts[@]}"
mesh_ctl nodes list
echo "ok: a and b enrolled again as themselves, with new WireGuard keys, and ping each other"
step "all checks passed"
