#!/usr/bin/env bash
# End-to-end test of hitless WireGuard key rotation (issue 5): an authority
# and four simulated hosts (namespace + swtpm + wireguard-go + tpmesh-client
# each, scripts/lib-mesh.sh). While every ordered pair pings over the
# overlay at 20 packets per second:
#   a. each node rotates in turn (tpmeshctl rotate --node)
#   b. all nodes rotate at once (tpmeshctl rotate --all)
# and the test prints BENCH rotation_packets_lost and BENCH rotation_seconds
# and fails on any lost packet. Then:
#   c. a node that is offline during a rotation comes back and pings every
#      peer again without admin help
#   d. a live peer that does not confirm the prepare phase (its daemon is
#      stopped) makes the rotation postpone, not split; it completes on retry
#   e. the config-signing key rotates with overlap (announce, switch, retire)
#      while one node is offline: it catches up through the old key's
#      co-signature, learns the new key, and applies later changes
#   f. the authority CA rotates: every node takes the two-CA bundle, the
#      authority switches to the new CA (new server and admin certificates,
#      hot), and nodes reconnect and keep rotating
# Exits 77 (skipped) without root, /dev/net/tun, wireguard-go or swtpm.
# Everything is cleaned up on exit, also on failure or Ctrl-C.
set -uo pipefail
# shellcheck source=lib-e2e.sh
. "$(cd "$(dirname "$0")" && pwd)/lib-e2e.sh"

PPS_INTERVAL=0.05   # 20 packets per second per ordered pair
ping_pids=()
e2e_cleanup() { ((${#ping_pids[@]} == 0)) || kill "${ping_pids[@]}" 2>/dev/null; }
e2e_diagnostics() {
  local h
  mesh_ctl audit list --limit 30 2>/dev/null | sed 's/^/audit: /'
  for h in "${W_HOSTS[@]}"; do
    grep -v "applied generation" "$W_DIR/hosts/$h/client.log" 2>/dev/null | tail -n 40 | sed "s/^/$h (not apply): /"
    host_wg "$h" show 2>/dev/null | sed "s/^/$h wg: /"
  done
}
e2e_begin rotation_e2e

# rotated HOST OLDKEY PEERS...: HOST uses a new key and every peer routes to
# it (and no longer knows OLDKEY).
rotated() {
  local h=$1 old=$2 new p
  shift 2
  new=$(pub "$h")
  [[ -n "$new" && "$new" != "$old" ]] || return 1
  for p in "$@"; do
    has_peer_key "$p" "$new" && ! has_peer_key "$p" "$old" || return 1
  done
}

# Continuous pings, every ordered pair of HOSTS, for SECONDS seconds.
start_pings() {  # TAG SECONDS HOSTS...
  local tag=$1 secs=$2 a b count
  shift 2
  count=$(awk -v s="$secs" -v i="$PPS_INTERVAL" 'BEGIN { printf "%d", s / i }')
  ping_pids=()
  for a in "$@"; do
    for b in "$@"; do
      [[ "$a" == "$b" ]] && continue
      ip netns exec "${H_NS[$a]}" ping -6 -n -D -i "$PPS_INTERVAL" -c "$count" -W 2 "${H_OVERLAY[$b]}" \
        >"$W_DIR/ping-$tag-$a-$b.out" 2>&1 &
      ping_pids+=("$!")
    done
  done
}

# lost_ranges FILE TX: the sequence numbers without a reply in a ping -D
# log, each range with the times of the replies around it (UTC).
lost_ranges() {
  awk -v tx="$2" '
    /icmp_seq=/ {
      t = substr($1, 2, length($1) - 2); seq = $0
      sub(/.*icmp_seq=/, "", seq); sub(/ .*/, "", seq)
      got[seq + 0] = t
    }
    function utc(t) { return t == "" ? "-" : strftime("%H:%M:%S", int(t), 1) sprintf(".%03d", (t - int(t)) * 1000) }
    END {
      prev = ""
      for (i = 1; i <= tx; i++) {
        if (i in got) { prev = got[i]; continue }
        j = i; while (j + 1 <= tx && !((j + 1) in got)) j++
        printf "    no reply to icmp_seq %d-%d (last reply before %s, next after %s)\n", i, j, utc(prev), utc((j + 1) in got ? got[j + 1] : "")
        i = j
      }
    }' "$1"
}

# Waits for the pings; LOST = packets without a reply, summed over pairs.
finish_pings() {  # TAG
  local tag=$1 f tx rx
  for pid in "${ping_pids[@]}"; do wait "$pid"; done
  ping_pids=()
  LOST=0
  SENT=0
  for f in "$W_DIR"/ping-"$tag"-*.out; do
    tx=$(sed -nE 's/^([0-9]+) packets transmitted.*/\1/p' "$f")
    rx=$(sed -nE 's/.* ([0-9]+) (packets )?received.*/\1/p' "$f")
    [[ -n "$tx" && -n "$rx" ]] || fail "no ping summary in $f: $(cat "$f")"
    if ((tx - rx > 0)); then
      echo "  $(basename "$f" .out): $((tx - rx)) of $tx lost"
      lost_ranges "$f" "$tx"
    fi
    LOST=$((LOST + tx - rx))
    SENT=$((SENT + tx))
  done
}

hosts=(h1 h2 h3 h4)
others_of() {  # HOST: every other host
  local h
  OTHERS=()
  for h in "${hosts[@]}"; do [[ "$h" != "$1" ]] && OTHERS+=("$h"); done
}

step "world: underlay, authority, four hosts"
world_create || fail "world_create"
echo "world $W_PREFIX in $W_DIR"
# Short deadlines so postponement and retry happen within the test; the
# clients report at least every W_POLL_WAIT seconds, well inside live_window.
cat >"$W_DIR/authority.toml" <<'TOML'
[rotation]
period = "30d"
jitter = "1d"
lead_time = "1h"
overlap = "20s"
confirm_deadline = "3s"
retry_after = "5s"
live_window = "10s"
TOML
export W_AUTH_CONFIG=$W_DIR/authority.toml
export W_POLL_WAIT=3
authority_start || fail "authority_start"
for h in "${hosts[@]}"; do
  host_add "$h" || fail "host_add $h"
  host_enroll "$h" >"$W_DIR/hosts/$h/enroll.log" 2>&1 || { cat "$W_DIR/hosts/$h/enroll.log" >&2; fail "$h did not enroll"; }
  client_start "$h" || fail "$h's client did not start"
done
converge 20 "${hosts[@]}"
echo "ok: all 12 ordered pairs ping"

total_lost=0
total_sent=0

step "a. each node rotates in turn, under 20 pps pings between every ordered pair"
start_pings a 30 "${hosts[@]}"
sleep 1
for h in "${hosts[@]}"; do
  old=$(pub "$h")
  others_of "$h"
  now_ms
  began=$NOW_MS
  mesh_ctl rotate --node "$h" --reason e2e >/dev/null || fail "tpmeshctl rotate --node $h failed"
  wait_until "rotated $h $old ${OTHERS[*]}" 15 || { mesh_ctl keys list >&2; fail "$h did not rotate within 15 s"; }
  now_ms
  echo "  $h rotated in $((NOW_MS - began)) ms (from $(date -u -d "@$((began / 1000)).$(printf %03d $((began % 1000)))" +%T.%3N))"
  sleep 1
done
finish_pings a
echo "a: $LOST of $SENT packets lost"
total_lost=$((total_lost + LOST))
total_sent=$((total_sent + SENT))

step "b. all nodes rotate at once"
declare -A old_key=()
for h in "${hosts[@]}"; do old_key[$h]=$(pub "$h"); done
all_rotated() {
  local h
  for h in "${hosts[@]}"; do
    others_of "$h"
    rotated "$h" "${old_key[$h]}" "${OTHERS[@]}" || return 1
  done
}
start_pings b 15 "${hosts[@]}"
sleep 1
now_ms
began=$NOW_MS
mesh_ctl rotate --all --reason e2e >/dev/null || fail "tpmeshctl rotate --all failed"
WAIT_INTERVAL=0.05 wait_until all_rotated 12 || { mesh_ctl keys list >&2; fail "not every node rotated within 12 s"; }
now_ms
rotation_ms=$((NOW_MS - began))
echo "  all four rotated in $rotation_ms ms"
finish_pings b
echo "b: $LOST of $SENT packets lost"
total_lost=$((total_lost + LOST))
total_sent=$((total_sent + SENT))
echo "BENCH rotation_packets_lost $total_lost packets"
echo "BENCH rotation_seconds $(awk -v ms="$rotation_ms" 'BEGIN { printf "%.2f", ms / 1000 }') s"
((total_lost == 0)) || fail "$total_lost of $total_sent packets lost during rotations"
echo "ok: 0 of $total_sent packets lost across 8 rotations"

step "c. a node offline during a rotation comes back on its own"
client_stop h4
ip -n "$W_PREFIX-ul" link set "${W_PREFIX}u04" down || fail "cannot take h4's underlay down"
sleep 11  # beyond live_window: the authority no longer counts h4 as live
old=$(pub h1)
mesh_ctl rotate --node h1 --reason e2e >/dev/null || fail "tpmeshctl rotate --node h1 failed"
wait_until "rotated h1 $old h2 h3" 15 || { mesh_ctl keys list >&2; fail "h1 did not rotate without the offline h4"; }
echo "ok: h1 rotated without waiting for offline h4"
has_peer_key h4 "$(pub h1)" && fail "offline h4 already knows h1's new key: the check would be void"
ip -n "$W_PREFIX-ul" link set "${W_PREFIX}u04" up || fail "cannot bring h4's underlay up"
client_start h4 || fail "h4's client did not restart"
converge 20 "${hosts[@]}"
has_peer_key h4 "$(pub h1)" || fail "h4 pings but does not hold h1's new key"
echo "ok: h4 came back, took h1's new key, and every pair pings"

step "d. a live peer that does not confirm postpones the rotation; the retry completes it"
sleep 1
old=$(pub h1)
kill -STOP "${H_CLIENT_PID[h3]}" || fail "cannot stop h3's client"
mesh_ctl rotate --node h1 --reason e2e >/dev/null || fail "tpmeshctl rotate --node h1 failed"
postponed() { mesh_ctl -o json keys list | tr -d ' \n' | grep -q '"phase":"postponed"'; }
if ! wait_until postponed 10; then
  kill -CONT "${H_CLIENT_PID[h3]}"
  mesh_ctl keys list >&2
  fail "the rotation did not postpone while h3 did not confirm"
fi
[[ "$(pub h1)" == "$old" ]] || { kill -CONT "${H_CLIENT_PID[h3]}"; fail "h1 switched although h3 never confirmed"; }
for h in h2 h3 h4; do
  has_peer_key "$h" "$old" || { kill -CONT "${H_CLIENT_PID[h3]}"; fail "$h no longer routes to h1's current key"; }
done
ping_all "${hosts[@]}" || { kill -CONT "${H_CLIENT_PID[h3]}"; fail "the mesh split while the rotation was postponed"; }
mesh_ctl keys list
echo "ok: postponed, h1 kept its key, every pair pings"
kill -CONT "${H_CLIENT_PID[h3]}" || fail "cannot resume h3's client"
wait_until "rotated h1 $old h2 h3 h4" 20 || { mesh_ctl keys list >&2; fail "the retried rotation of h1 did not complete"; }
# Captured first: grep -q closing the pipe early would fail tpmeshctl's write (pipefail).
audit=$(mesh_ctl audit list --limit 200) || fail "tpmeshctl audit list failed"
[[ "$audit" == *key.postpone* ]] || fail "no key.postpone in the audit log"
converge 10 "${hosts[@]}"
echo "ok: after h3 resumed, the retry rotated h1 and every pair pings"
step "e. the config-signing key rotates; a node offline during the switch catches up"
# STATES FIELD: the states of the keys listed under FIELD in keys list, e.g. "current next ".
key_states() {
  mesh_ctl -o json keys list | tr -d ' \n' | grep -o "\"$1\":\[[^]]*\]" |
    grep -o '"state":"[a-z]*"' | sed 's/"state"://; s/"//g' | tr '\n' ' '
}
signing_states() { key_states config_signing; }
[[ "$(signing_states)" == "current " ]] || fail "unexpected config-signing keys before the rotation: $(signing_states)"
client_stop h4  # its interface keeps working; it misses the announcement
mesh_ctl keys rotate-signing-key --reason e2e >/dev/null || fail "tpmeshctl keys rotate-signing-key failed"
[[ "$(signing_states)" == "current next " ]] || fail "no next config-signing key announced: $(signing_states)"
wait_until "grep -q 'config-signing keys now trusted' '$W_DIR/hosts/h1/client.log'" 10 ||
  fail "h1 did not learn the announced config-signing key"
# h4 never acknowledges: the switch waits for the overlap (20 s), then goes ahead.
wait_until '[[ "$(signing_states)" == "current retired " ]]' 40 ||
  fail "the authority did not switch config-signing keys: $(signing_states)"
echo "ok: announced, then switched after the overlap although h4 never saw the announcement"
seen=$(wc -l <"$W_DIR/hosts/h4/client.log")
client_start h4 || fail "h4's client did not restart"
wait_until "tail -n +$((seen + 1)) '$W_DIR/hosts/h4/client.log' | grep -q 'config-signing keys now trusted'" 15 ||
  fail "h4 did not accept the config signed by the new key (co-signature path)"
old=$(pub h2)
mesh_ctl rotate --node h2 --reason e2e >/dev/null || fail "tpmeshctl rotate --node h2 failed"
wait_until "rotated h2 $old h1 h3 h4" 15 || fail "a change signed by the new key did not reach every node"
echo "ok: h4 verified through the co-signature, and later changes reach every node"
wait_until '[[ "$(signing_states)" == "current " ]]' 40 || fail "the old config-signing key was not retired: $(signing_states)"
old=$(pub h3)
mesh_ctl rotate --node h3 --reason e2e >/dev/null || fail "tpmeshctl rotate --node h3 failed"
wait_until "rotated h3 $old h1 h2 h4" 15 || fail "a change after the retirement did not reach every node"
converge 10 "${hosts[@]}"
echo "ok: old config-signing key retired; the mesh follows the new key alone"

step "f. the authority CA rotates: nodes fetch the new bundle, then it issues everything"
[[ "$(key_states authority_ca)" == "current " ]] || fail "unexpected authority CAs: $(key_states authority_ca)"
mesh_ctl keys rotate-ca --reason e2e >/dev/null || fail "tpmeshctl keys rotate-ca failed"
wait_until '[[ "$(key_states authority_ca)" == "current retired " ]]' 20 ||
  fail "the authority did not switch CAs: $(key_states authority_ca)"
for h in "${hosts[@]}"; do
  grep -q 'authority CA bundle updated: 2 certificate' "$W_DIR/hosts/$h/client.log" ||
    fail "$h never took the new CA bundle"
done
echo "ok: every node took the two-CA bundle, then the authority switched (tpmeshctl follows with the re-issued admin certificate)"
client_stop h1  # reconnects from scratch: verifies the new server certificate with the new bundle
client_start h1 || fail "h1's client did not restart"
for h in h1 h4; do
  old=$(pub "$h")
  others_of "$h"
  mesh_ctl rotate --node "$h" --reason e2e >/dev/null || fail "tpmeshctl rotate --node $h failed"
  wait_until "rotated $h $old ${OTHERS[*]}" 15 || fail "$h's key rotation failed after the CA switch"
done
converge 10 "${hosts[@]}"
echo "ok: after the CA switch nodes reconnect, rotate and ping"
step "all checks passed"
