# shellcheck shell=bash
# The harness every tests/e2e/*.sh shares (sourced, not run): skip rules,
# the world library, the exit trap, and small assertions.
#
#   e2e_begin NAME [TOOLS...]   exit 77 (skipped) without root, /dev/net/tun,
#                               wireguard-go, network namespaces, or any of
#                               wg swtpm swtpm_setup ip ping ss TOOLS; source
#                               scripts/lib-mesh.sh; on exit (also failure or
#                               Ctrl-C): run e2e_cleanup if defined, print the
#                               last log lines on failure (and whatever
#                               e2e_diagnostics prints, if defined), destroy
#                               the world, print "NAME: PASSED|FAILED in N s".
#   fail MSG                    exit 1 with "FAIL: MSG"
#   step MSG                    "== MSG (t=N s)"
#   converge TIMEOUT HOSTS...   every ordered pair pings within TIMEOUT s, else fail
#   pub HOST                    HOST's current WireGuard public key
#   has_peer_key HOST KEY       KEY is a peer on HOST's interface

e2e_begin() {
  E2E_NAME=$1
  shift
  local tool probe=tpmprobe$$
  skip() { echo "SKIP: $*"; exit 77; }
  [[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
  [[ -c /dev/net/tun ]] || skip "no /dev/net/tun"
  command -v wireguard-go >/dev/null || skip "wireguard-go is not installed"
  for tool in wg swtpm swtpm_setup ip ping ss "$@"; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
  done
  ip netns add "$probe" 2>/dev/null || skip "cannot create network namespaces here"
  ip netns del "$probe"
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  export TPMESH_BIN_DIR=${TPMESH_BIN_DIR:-$repo/build/bin}
  # shellcheck source=../../scripts/lib-mesh.sh
  . "$repo/scripts/lib-mesh.sh"
  E2E_T0=$SECONDS
  trap _e2e_on_exit EXIT
  trap 'exit 130' INT TERM
}

_e2e_on_exit() {
  local rc=$? h
  declare -F e2e_cleanup >/dev/null && e2e_cleanup
  if ((rc != 0)) && [[ -n "$W_PREFIX" ]]; then
    echo "---- logs (last lines) ----" >&2
    tail -n 30 "$W_DIR/authority.log" 2>/dev/null | sed 's/^/authority: /' >&2
    for h in "${W_HOSTS[@]}"; do
      tail -n 12 "$W_DIR/hosts/$h/client.log" 2>/dev/null | sed "s/^/$h: /" >&2
    done
    declare -F e2e_diagnostics >/dev/null && e2e_diagnostics >&2
  fi
  world_destroy
  echo "$E2E_NAME: $( ((rc == 0)) && echo PASSED || echo FAILED) in $((SECONDS - E2E_T0)) s"
  exit "$rc"
}

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $* (t=$((SECONDS - E2E_T0)) s)"; }

converge() {
  local timeout=$1
  shift
  wait_until "ping_all $*" "$timeout" && return 0
  ping_all "$@"  # prints which pairs fail
  fail "hosts $* did not all reach each other within ${timeout}s"
}

pub() { tr -d '\n' <"${H_DIR[$1]}/wg.pub"; }
has_peer_key() { [[ "$(host_wg "$1" show peers 2>/dev/null)" == *"$2"* ]]; }
