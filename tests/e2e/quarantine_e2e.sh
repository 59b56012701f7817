#!/usr/bin/env bash
# End-to-end test of quarantine at renewal (issue 5: "A node whose PCRs
# change is quarantined at its next renewal"): an authority whose default PCR
# policy holds PCRs 0-7 to their boot values and whose node certificates live
# 60 s (renewed at half life, with re-attestation), and four simulated hosts
# (namespace + swtpm + wireguard-go + tpmesh-client --tcti each,
# scripts/lib-mesh.sh). Asserts:
#   a. the four hosts enroll under the policy and every ordered pair pings
#   b. h2's PCR 7 is extended (its client stopped meanwhile: swtpm serves one
#      connection at a time); at h2's next renewal the authority quarantines
#      it: status quarantined, the reason names PCR 7 and the policy, the
#      audit log has node.quarantine; every peer drops h2's WireGuard key
#      (BENCH quarantine_cutoff_s: h2's client start to the last peer
#      dropping it); h2 reaches nobody and nobody reaches h2; h1, h3, h4
#      still ping each other
#   c. h1, h3 and h4 renew again after the quarantine (re-attested against the
#      same policy) and stay active
# Exits 77 (skipped) without root, /dev/net/tun, wireguard-go, swtpm,
# tpm2-tools, jq or openssl. Everything is cleaned up on exit, also on
# failure or Ctrl-C.
set -uo pipefail
# shellcheck source=lib-e2e.sh
. "$(cd "$(dirname "$0")" && pwd)/lib-e2e.sh"

e2e_diagnostics() {
  mesh_ctl nodes list 2>/dev/null | sed 's/^/nodes: /'
  mesh_ctl audit list --limit 30 2>/dev/null | sed 's/^/audit: /'
}
e2e_begin quarantine_e2e tpm2_pcrread tpm2_pcrextend jq openssl
# some_peer_has KEY HOSTS...: at least one of HOSTS still has KEY as a peer.
some_peer_has() {
  local key=$1 h
  shift
  for h in "$@"; do has_peer_key "$h" "$key" && return 0; done
  return 1
}

# Runs tpm2-tools against HOST's swtpm (reachable only in its namespace).
host_tpm2() {  # HOST TOOL ARGS...
  local h=$1 tool=$2
  shift 2
  ip netns exec "${H_NS[$h]}" "$tool" -T "${H_TCTI[$h]}" "$@"
}
# Prints HOST's sha256 PCR INDEX as 64 lowercase hex digits.
pcr_value() {  # HOST INDEX
  host_tpm2 "$1" tpm2_pcrread "sha256:$2" |
    awk -v i="$2" '$1 == i && $2 == ":" { v = tolower($3); sub(/^0x/, "", v); print v }'
}

# node_field HOSTNAME FIELD: a field of HOSTNAME's node in `nodes list`.
node_field() {
  mesh_ctl -o json nodes list | jq -r --arg h "$1" --arg f "$2" '.nodes[] | select(.hostname == $h) | .[$f]'
}
node_status() { node_field "$1" status; }
# audit_ids ACTION TARGET: ids of audit entries with ACTION on node TARGET.
audit_ids() {
  mesh_ctl -o json audit list --limit 1000 |
    jq -r --arg a "$1" --arg t "$2" '.audit[] | select(.action == $a and .target == $t) | .id'
}
# renewed_after ID HOSTS...: every host has a node.renew entry newer than ID.
renewed_after() {
  local after=$1 h id newest
  shift
  for h in "$@"; do
    newest=0
    for id in $(audit_ids node.renew "${NODE_ID[$h]}"); do ((id > newest)) && newest=$id; done
    ((newest > after)) || return 1
  done
}

hosts=(h1 h2 h3 h4)
others=(h1 h3 h4)
POLICY=golden

step "world: underlay, authority with a PCR policy and 60 s certificates, four hosts"
world_create || fail "world_create"
echo "world $W_PREFIX in $W_DIR"
cat >"$W_DIR/authority.toml" <<TOML
default_policy = "$POLICY"
node_cert_lifetime = "60s"
TOML
export W_AUTH_CONFIG=$W_DIR/authority.toml
export W_POLL_WAIT=3
export W_CLIENT_TCTI=1
authority_start || fail "authority_start"
for h in "${hosts[@]}"; do host_add "$h" || fail "host_add $h"; done

# The golden values: h1's boot PCRs 0-7 (swtpm boots with all of them zero).
pcr_args=()
for i in 0 1 2 3 4 5 6 7; do
  v=$(pcr_value h1 "$i")
  [[ "$v" =~ ^[0-9a-f]{64}$ ]] || fail "cannot read h1's PCR $i (got '$v')"
  pcr_args+=(--pcr "$i=$v")
done
mesh_ctl policy set "$POLICY" "${pcr_args[@]}" || fail "tpmeshctl policy set $POLICY failed"

step "a. four hosts enroll under policy '$POLICY' and converge"
declare -A NODE_ID=()
for h in "${hosts[@]}"; do
  host_enroll "$h" >"$W_DIR/hosts/$h/enroll.log" 2>&1 || { cat "$W_DIR/hosts/$h/enroll.log" >&2; fail "$h did not enroll"; }
  NODE_ID[$h]=$(node_field "$h" node_id)
  [[ -n "${NODE_ID[$h]}" ]] || fail "no node id for $h"
  client_start "$h" || fail "$h's client did not start"
done
converge 20 "${hosts[@]}"
for h in "${hosts[@]}"; do
  [[ "$(node_status "$h")" == active ]] || fail "$h is $(node_status "$h") after enrollment, want active"
done
echo "ok: h1..h4 active under policy '$POLICY'; all 12 ordered pairs ping"

step "b. h2's PCR 7 changes; its next renewal quarantines it"
h2key=$(pub h2)
for h in "${others[@]}"; do
  has_peer_key "$h" "$h2key" || fail "before the PCR change $h lacks h2's key: the check would be void"
done
# swtpm serves one TCP connection at a time and the client keeps its TPM
# connection open after its first renewal: extend while the client is stopped.
client_stop h2
before=$(pcr_value h2 7)
host_tpm2 h2 tpm2_pcrextend "7:sha256=$(printf 'quarantine_e2e' | sha256sum | cut -c1-64)" ||
  fail "tpm2_pcrextend on h2's TPM failed"
after=$(pcr_value h2 7)
[[ "$after" =~ ^[0-9a-f]{64}$ && "$after" != "$before" ]] || fail "h2's PCR 7 did not change ($before -> $after)"
echo "h2's PCR 7: ${before:0:16}... -> ${after:0:16}..."
[[ "$(node_status h2)" == active ]] || fail "h2 is $(node_status h2) before its renewal, want active"
now_ms
h2_started=$NOW_MS
client_start h2 || fail "h2's client did not restart"
# The next renewal comes at half life (<= 30 s after the certificate's
# issue); the quarantine it causes makes every peer drop h2's key.
if ! WAIT_INTERVAL=0.05 wait_until "! some_peer_has $h2key ${others[*]}" 45; then
  [[ "$(node_status h2)" == quarantined ]] &&
    fail "h2 is quarantined but 45 s after its client start some peer still has its key"
  fail "h2 is still $(node_status h2) 45 s after its client start with a changed PCR 7, want quarantined"
fi
now_ms
cutoff_ms=$((NOW_MS - h2_started))
echo "BENCH quarantine_cutoff_s $(awk -v ms="$cutoff_ms" 'BEGIN { printf "%.2f", ms / 1000 }') s"
WAIT_INTERVAL=0.5 wait_until "[[ \$(node_status h2) == quarantined ]]" 5 ||
  fail "every peer dropped h2's key but h2 is $(node_status h2), want quarantined"
reason=$(node_field h2 status_reason)
echo "h2 status reason: $reason"
[[ "$reason" == *"PCR 7"* && "$reason" == *"policy '$POLICY'"* ]] ||
  fail "h2's status reason does not name PCR 7 and policy '$POLICY': '$reason'"
qids=$(audit_ids node.quarantine "${NODE_ID[h2]}")
[[ -n "$qids" ]] || fail "no node.quarantine audit entry for h2 (${NODE_ID[h2]})"
qid=$(sort -n <<<"$qids" | tail -n 1)
mesh_ctl audit list --limit 1000 | grep -E 'node\.quarantine' || true
grep -q 'certificate renewal failed: pcr_policy_mismatch' "$W_DIR/hosts/h2/client.log" ||
  fail "h2's client log does not show the failed renewal"
echo "ok: h2 quarantined at its renewal (audit node.quarantine #$qid), every peer dropped its key"

pids=()
targets=()
for h in "${others[@]}"; do
  ip netns exec "${H_NS[h2]}" ping -6 -n -q -c3 -i0.3 -W1 "${H_OVERLAY[$h]}" >/dev/null 2>&1 &
  pids+=("$!"); targets+=("h2->$h")
  ip netns exec "${H_NS[$h]}" ping -6 -n -q -c3 -i0.3 -W1 "${H_OVERLAY[h2]}" >/dev/null 2>&1 &
  pids+=("$!"); targets+=("$h->h2")
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" && fail "quarantined h2 still has a path: ${targets[$i]} got a reply"
done
echo "ok: h2 reaches none of ${others[*]}, and none of them reaches h2"
converge 10 "${others[@]}"
echo "ok: ${others[*]} still ping each other"

step "c. the other hosts keep renewing under the same policy"
# A certificate lives 60 s: each host must renew within 60 s of its last
# issue (at half life, 30 s, by design), else it is locked out of the authority.
if ! WAIT_INTERVAL=1 wait_until "renewed_after $qid ${others[*]}" 65; then
  for h in "${others[@]}"; do
    renewed_after "$qid" "$h" && continue
    dates=$(openssl x509 -in "${H_DIR[$h]}/node.crt" -noout -startdate -enddate 2>/dev/null | tr '\n' ' ')
    echo "$h's node certificate: $dates(now $(date -u '+%b %e %T %Y GMT'))" >&2
    grep -E 'renew|expired' "$W_DIR/hosts/$h/client.log" | tail -n 4 | sed "s/^/  $h: /" >&2
    if grep -q 'certificate expired' "$W_DIR/hosts/$h/client.log"; then
      fail "$h did not renew within 65 s after h2's quarantine: its 60 s node certificate expired before" \
        "its next renewal attempt and the authority now refuses it (TLS alert 'certificate expired')"
    fi
    fail "$h did not renew within 65 s after h2's quarantine"
  done
fi
for h in "${others[@]}"; do
  [[ "$(node_status "$h")" == active ]] || fail "$h is $(node_status "$h"), want active"
  grep -q 'renewed the node certificate' "$W_DIR/hosts/$h/client.log" ||
    fail "$h's client log shows no renewal"
done
[[ "$(node_status h2)" == quarantined ]] || fail "h2 is $(node_status h2) at the end, want quarantined"
some_peer_has "$h2key" "${others[@]}" && fail "h2's key came back on a peer"
converge 10 "${others[@]}"
mesh_ctl nodes list
echo "ok: ${others[*]} renewed after the quarantine and stay active; h2 stays out"
step "all checks passed"
