# shellcheck shell=bash
# Test worlds for tpmesh (sourced, not run). Shared by tests/e2e/mesh_e2e.sh
# and scripts/demo, so both build the world the same way. Needs root,
# iproute2, swtpm, wireguard-go, wireguard-tools (wg) and ping.
#
# A world is a set of network namespaces joined over an IPv6 underlay
# (fd00:77::/64, addresses without DAD):
#   $W_PREFIX-ul    underlay: bridge ${W_PREFIX}br; every veth below ends on it
#   $W_PREFIX-auth  the authority: fd00:77::1, serving on [fd00:77::1]:8443
#   $W_PREFIX-NAME  one per host: fd00:77::1NN (NN = host number 01..99), its
#                   own swtpm on 127.0.0.1 inside, its tpmesh-client and its
#                   WireGuard interface ${W_PREFIX}wNN (wireguard-go)
#   root namespace  ${W_PREFIX}r = fd00:77::fe, so curl and tpmeshctl also work
#                   from the root namespace. With two worlds at once the root
#                   namespace reaches whichever world's route came first;
#                   mesh_ctl runs in the authority's namespace and is always right.
# W_PREFIX is "tpm" + 4 random hex digits: worlds running in parallel and
# leftovers of killed runs never collide. Interface names have <= 10
# characters and are unique across namespaces (the WireGuard UAPI socket path
# /var/run/wireguard/IF.sock is global).
#
# Functions (return non-zero with a message on stderr on failure; call them
# from the main shell, not in $(...), since they record state in variables):
#   world_create                create the namespaces and init the authority
#   world_destroy               stop everything the world started, delete its
#                               namespaces and directory; idempotent, EXIT-trap safe
#   host_add NAME [6|4|46]      namespace + veth + manufactured, running swtpm
#   authority_start | authority_stop | authority_restart
#   host_enroll NAME [TOKEN]    enroll NAME (a fresh one-time token unless given)
#   client_start NAME           tpmesh-client run in NAME's namespace (background),
#                               --wg-backend $W_WG_BACKEND (default userspace:
#                               the same wireguard-go world on every machine)
#   client_stop NAME            SIGTERM; the interface stays (wireguard-go daemonizes)
#   client_wait_exit NAME SECS  wait for the client to exit; sets CLIENT_RC
#   mesh_ctl ARGS...            tpmeshctl as the admin, in the authority namespace
#   host_wg NAME ARGS...        wg ARGS run for NAME's interface, e.g. host_wg a show
#   wg_snapshot NAME / wg_replay NAME
#                               save NAME's WireGuard config (keys included) /
#                               recreate its interface from it: a revoked host
#                               that keeps its keys and ignores the authority
#   ping_pair A B               ping -6 -c1 -W1 from A's namespace to B's overlay address
#   ping_all [HOSTS...]         every ordered pair, in parallel (default: all
#                               enrolled hosts not marked revoked); lists failures
#   wait_until "CMD" SECS       eval CMD every ${WAIT_INTERVAL:-0.1} s until it succeeds
# State: W_DIR (logs: $W_DIR/authority.log, $W_DIR/hosts/NAME/client.log),
# W_AUTH_URL, W_CA_FP, W_MESH_PREFIX, W_HOSTS (names in order added), and per host
# H_NS, H_IF, H_DIR (client state dir), H_UNDERLAY, H_UNDERLAY4 (10.77.0.1NN,
# for hosts added with family 4 or 46), H_OVERLAY, H_CLIENT_PID, H_MEMBER (1 =
# enrolled and not revoked; the caller clears it on revoke). W_DUAL_STACK=1
# before world_create gives the authority 10.77.0.1 too (in its certificate,
# serving on [::]:8443), so IPv4-only hosts enroll over IPv4.
# TPMESH_BIN_DIR selects the binaries (default: build/bin of this checkout);
# TPMESH_KEEP_WORLD=1 keeps $W_DIR after world_destroy; W_POLL_WAIT sets the
# clients' --poll-wait (default 25 s); W_AUTH_CONFIG names an authority.toml
# for authority_start; W_CLIENT_TCTI=1 gives clients their swtpm (--tcti) so
# they renew their certificates with re-attestation (without it they have the
# default TPM, device:/dev/tpmrm0, which a world's host lacks: fine for runs
# shorter than half a certificate's life).

_MESH_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib-swtpm.sh
. "$_MESH_REPO/scripts/lib-swtpm.sh"

W_WG_PORT=51820
W_AUTH_ADDR=fd00:77::1
W_AUTH_ADDR4=10.77.0.1  # only with W_DUAL_STACK=1
W_ROOT_ADDR=fd00:77::fe
W_PREFIX=""
W_HOSTS=()
declare -gA H_NS=() H_IF=() H_DIR=() H_UNDERLAY=() H_UNDERLAY4=() H_OVERLAY=() H_MESH=() H_TCTI=()
declare -gA H_SWTPM_PID=() H_CLIENT_PID=() H_MEMBER=()

_w_err() { echo "lib-mesh: $*" >&2; return 1; }

# Milliseconds since the epoch, in NOW_MS (no subshell).
now_ms() { local t=${EPOCHREALTIME/[.,]/}; NOW_MS=$((t / 1000)); }

wait_until() {  # "CMD" TIMEOUT_SECONDS (may be fractional)
  local cmd=$1 deadline
  now_ms
  deadline=$((NOW_MS + $(awk -v s="${2:-10}" 'BEGIN { printf "%d", s * 1000 }')))
  while true; do
    eval "$cmd" >/dev/null 2>&1 && return 0
    now_ms
    ((NOW_MS < deadline)) || return 1
    sleep "${WAIT_INTERVAL:-0.1}"
  done
}

_w_alive() {  # PID: running (not gone, not a zombie)
  local pid=$1 rest
  [[ -n "$pid" ]] || return 1
  read -r rest 2>/dev/null </proc/"$pid"/stat || return 1
  rest=${rest##*) }
  [[ ${rest:0:1} != Z ]]
}

# Stops one of our child processes: SIGTERM, SIGKILL after TIMEOUT seconds,
# reaps it; its exit status in _W_RC.
_w_stop_pid() {
  local pid=$1 timeout=${2:-5}
  _W_RC=0
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_until "! _w_alive $pid" "$timeout"; then
    echo "lib-mesh: pid $pid ignored SIGTERM for ${timeout}s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    wait_until "! _w_alive $pid" 5 || true
  fi
  wait "$pid" 2>/dev/null || _W_RC=$?
}

# veth INNER (in namespace NS, "" = root namespace) <-> UL on the bridge; ADDR/64
# ("" = no IPv6 address).
_w_attach() {
  local ns=$1 inner=$2 ul=$3 addr=$4 in=()
  [[ -n "$ns" ]] && in=(-n "$ns")
  ip "${in[@]}" link add "$inner" type veth peer name "$ul" netns "$W_PREFIX-ul" &&
    ip -n "$W_PREFIX-ul" link set "$ul" master "${W_PREFIX}br" up &&
    { [[ -z "$addr" ]] || ip "${in[@]}" -6 address add "$addr/64" dev "$inner" nodad; } &&
    ip "${in[@]}" link set "$inner" up ||
    _w_err "cannot attach $inner (${ns:-root namespace}) to the underlay"
}

_w_netns_add() {
  ip netns add "$1" && ip -n "$1" link set lo up || _w_err "cannot create namespace $1"
}

world_create() {
  [[ $(id -u) -eq 0 ]] || { _w_err "a world needs root (network namespaces)"; return 1; }
  [[ -z "$W_PREFIX" ]] || { _w_err "world $W_PREFIX exists already"; return 1; }
  W_BIN=${TPMESH_BIN_DIR:-$_MESH_REPO/build/bin}
  local b p names links
  for b in tpmesh-authority tpmesh-client tpmeshctl; do
    [[ -x "$W_BIN/$b" ]] || { _w_err "$W_BIN/$b missing (build first, or set TPMESH_BIN_DIR)"; return 1; }
  done
  names=$(ip netns list 2>/dev/null)
  links=$(ip -o link show 2>/dev/null)
  for _ in $(seq 1 20); do
    p=tpm$(od -An -N2 -tx1 /dev/urandom | tr -d ' \n')
    [[ "$names" != *"$p-"* && "$links" != *" $p"* ]] && break
    p=""
  done
  [[ -n "$p" ]] || { _w_err "no unused world prefix found"; return 1; }
  W_PREFIX=$p  # from here on world_destroy cleans up whatever exists
  W_HOSTS=()
  W_AUTH_PID=""
  W_DIR=$(mktemp -d /tmp/tpmesh-world.XXXXXX) || { _w_err "mktemp failed"; return 1; }
  mkdir -p "$W_DIR/hosts"
  W_AUTH_NS=$p-auth
  W_AUTH_URL="https://[$W_AUTH_ADDR]:8443"
  _w_netns_add "$p-ul" || return 1
  ip -n "$p-ul" link add "${p}br" type bridge mcast_snooping 0 &&
    ip -n "$p-ul" link set "${p}br" up || { _w_err "cannot create bridge ${p}br"; return 1; }
  _w_netns_add "$W_AUTH_NS" || return 1
  _w_attach "$W_AUTH_NS" "${p}a" "${p}ua" "$W_AUTH_ADDR" || return 1
  _w_attach "" "${p}r" "${p}ur" "$W_ROOT_ADDR" || return 1
  local server_ips=(--server-ip "$W_AUTH_ADDR")
  if [[ "${W_DUAL_STACK:-0}" == 1 ]]; then
    ip -n "$W_AUTH_NS" address add "$W_AUTH_ADDR4/24" dev "${p}a" ||
      { _w_err "cannot give the authority $W_AUTH_ADDR4"; return 1; }
    server_ips+=(--server-ip "$W_AUTH_ADDR4")
  fi
  "$W_BIN/tpmesh-authority" init --state-dir "$W_DIR/authority" "${server_ips[@]}" \
    >"$W_DIR/init.out" 2>&1 || { cat "$W_DIR/init.out" >&2; _w_err "authority init failed"; return 1; }
  W_CA_FP=$(awk '/^CA fingerprint/{print $3}' "$W_DIR/init.out")
  W_MESH_PREFIX=$(awk '/^mesh prefix/{print $3}' "$W_DIR/init.out")
  [[ -n "$W_CA_FP" ]] || { _w_err "no CA fingerprint in $W_DIR/init.out"; return 1; }
}

world_destroy() {
  [[ -n "${W_PREFIX:-}" ]] || return 0
  local name ns pid pids=() all_ns started=()
  all_ns=$(ip netns list 2>/dev/null | awk -v p="$W_PREFIX-" 'index($1, p) == 1 {print $1}')
  for ns in $all_ns; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do started+=("$pid"); done
  done
  # A client blocked in a long poll sees SIGTERM only when the poll returns:
  # signal the clients, then stop the authority (which releases the polls).
  for name in "${W_HOSTS[@]}"; do
    [[ -n "${H_CLIENT_PID[$name]:-}" ]] && { kill -TERM "${H_CLIENT_PID[$name]}" 2>/dev/null || true; }
  done
  _w_stop_pid "${W_AUTH_PID:-}" 5
  W_AUTH_PID=""
  for name in "${W_HOSTS[@]}"; do
    _w_stop_pid "${H_CLIENT_PID[$name]:-}" 5
    H_CLIENT_PID[$name]=""
  done
  # Deleting a WireGuard interface ends its wireguard-go.
  for name in "${W_HOSTS[@]}"; do
    ip -n "${H_NS[$name]}" link del "${H_IF[$name]}" 2>/dev/null || true
  done
  # Whatever still runs in the world's namespaces (swtpm, wireguard-go) was
  # started by the world: stop it by pid.
  for ns in $all_ns; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do pids+=("$pid"); done
  done
  if ((${#pids[@]})); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for pid in "${pids[@]}"; do
      wait_until "! _w_alive $pid" 3 || kill -KILL "$pid" 2>/dev/null || true
    done
  fi
  for name in "${W_HOSTS[@]}"; do
    [[ -n "${H_SWTPM_PID[$name]:-}" ]] && { wait "${H_SWTPM_PID[$name]}" 2>/dev/null || true; }
  done
  # Daemonized wireguard-go is init's child: give init a moment to reap it.
  for pid in "${started[@]}"; do wait_until "[[ ! -e /proc/$pid ]]" 2 || true; done
  for ns in $all_ns; do ip netns del "$ns" 2>/dev/null || true; done
  ip link del "${W_PREFIX}r" 2>/dev/null || true
  rm -f /var/run/wireguard/"${W_PREFIX}"w*.sock
  if [[ -n "${W_DIR:-}" && -d "$W_DIR" ]]; then
    if [[ "${TPMESH_KEEP_WORLD:-0}" == 1 ]]; then
      echo "lib-mesh: kept $W_DIR" >&2
    else
      rm -rf "$W_DIR"
    fi
  fi
  W_PREFIX=""
  W_HOSTS=()
  H_NS=() H_IF=() H_DIR=() H_UNDERLAY=() H_UNDERLAY4=() H_OVERLAY=() H_MESH=() H_TCTI=()
  H_SWTPM_PID=() H_CLIENT_PID=() H_MEMBER=()
}

host_add() {  # NAME [FAMILIES: 6 (default), 4 or 46; 4 needs W_DUAL_STACK=1]
  local name=$1 fam=${2:-6} n nn ns dir
  [[ -n "$W_PREFIX" ]] || { _w_err "host_add: no world (world_create first)"; return 1; }
  [[ "$name" =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || { _w_err "host_add: bad host name '$name'"; return 1; }
  [[ -z "${H_NS[$name]:-}" ]] || { _w_err "host_add: $name exists"; return 1; }
  n=$((${#W_HOSTS[@]} + 1))
  ((n <= 99)) || { _w_err "host_add: at most 99 hosts"; return 1; }
  nn=$(printf %02d "$n")
  ns=$W_PREFIX-$name
  dir=$W_DIR/hosts/$name
  W_HOSTS+=("$name")
  H_NS[$name]=$ns
  H_IF[$name]=${W_PREFIX}w$nn
  H_DIR[$name]=$dir/node
  H_UNDERLAY[$name]=""
  H_UNDERLAY4[$name]=""
  [[ "$fam" == *6* ]] && H_UNDERLAY[$name]=fd00:77::1$nn
  [[ "$fam" == *4* ]] && H_UNDERLAY4[$name]=10.77.0.$((100 + n))
  H_MEMBER[$name]=0
  mkdir -p "$dir"
  _w_netns_add "$ns" || return 1
  _w_attach "$ns" "${W_PREFIX}v$nn" "${W_PREFIX}u$nn" "${H_UNDERLAY[$name]}" || return 1
  if [[ "$fam" != *6* ]]; then  # no IPv6 on its underlay, not even link-local (the overlay keeps it)
    ip netns exec "$ns" sysctl -qw "net.ipv6.conf.${W_PREFIX}v$nn.disable_ipv6=1" || return 1
  fi
  if [[ -n "${H_UNDERLAY4[$name]}" ]]; then
    ip -n "$ns" address add "${H_UNDERLAY4[$name]}/24" dev "${W_PREFIX}v$nn" ||
      { _w_err "host_add: cannot give $name ${H_UNDERLAY4[$name]}"; return 1; }
  fi
  # All hosts' TPMs come from one "manufacturer" (one swtpm local CA).
  swtpm_manufacture "$dir/tpm" "$W_DIR/manufacturer" || return 1
  SWTPM_NETNS=$ns swtpm_start "$dir/tpm" || return 1
  H_SWTPM_PID[$name]=$SWTPM_PID
  H_TCTI[$name]=$SWTPM_TCTI
}

# The EK roots the authority trusts: the manufacturer CA (made on first use).
_w_ek_roots() {
  local ca=$W_DIR/manufacturer
  if [[ ! -f "$ca/issuercert.pem" ]]; then
    swtpm_manufacture "$W_DIR/ca-seed" "$ca" || return 1
  fi
  mkdir -p "$W_DIR/ek-roots" &&
    cp "$ca/swtpm-localca-rootca-cert.pem" "$ca/issuercert.pem" "$W_DIR/ek-roots/"
}

_w_auth_listening() {
  [[ -n "$(ip netns exec "$W_AUTH_NS" ss -Htln '( sport = :8443 )' 2>/dev/null)" ]]
}

authority_start() {
  [[ -n "$W_PREFIX" ]] || { _w_err "authority_start: no world"; return 1; }
  [[ -z "$W_AUTH_PID" ]] || { _w_err "authority_start: already running (pid $W_AUTH_PID)"; return 1; }
  _w_ek_roots || return 1
  echo "--- authority start $(date +%T.%N)" >>"$W_DIR/authority.log"
  local config=()
  [[ -n "${W_AUTH_CONFIG:-}" ]] && config=(--config "$W_AUTH_CONFIG")
  ip netns exec "$W_AUTH_NS" "$W_BIN/tpmesh-authority" serve "${config[@]}" --state-dir "$W_DIR/authority" \
    --listen "$( [[ "${W_DUAL_STACK:-0}" == 1 ]] && echo "[::]" || echo "[$W_AUTH_ADDR]"):8443" --ek-trust-dir "$W_DIR/ek-roots" --dev >>"$W_DIR/authority.log" 2>&1 &
  W_AUTH_PID=$!
  if ! wait_until "_w_auth_listening || ! _w_alive $W_AUTH_PID" 15 || ! _w_alive "$W_AUTH_PID"; then
    tail -n 20 "$W_DIR/authority.log" >&2
    _w_stop_pid "$W_AUTH_PID" 2
    W_AUTH_PID=""
    _w_err "the authority did not start (log above)"
    return 1
  fi
}

authority_stop() {
  [[ -n "${W_AUTH_PID:-}" ]] || return 0
  _w_stop_pid "$W_AUTH_PID" 10
  W_AUTH_PID=""
}

authority_restart() { authority_stop && authority_start; }

mesh_ctl() {
  TPMESH_ADMIN_DIR="$W_DIR/authority" TPMESH_AUTHORITY="$W_AUTH_URL" \
    ip netns exec "$W_AUTH_NS" "$W_BIN/tpmeshctl" "$@"
}

_w_json_str() {  # FILE KEY: a top-level string field of a JSON file ("" if absent)
  jq -r --arg k "$2" '.[$k] // empty | strings' "$1" 2>/dev/null
}

host_enroll() {
  local name=$1 token=${2:-}
  [[ -n "${H_NS[$name]:-}" ]] || { _w_err "host_enroll: no host '$name'"; return 1; }
  if [[ -z "$token" ]]; then
    token=$(mesh_ctl -o json tokens create --ttl 10m --comment "$name" |
            sed -nE 's/.*"token": *"([^"]+)".*/\1/p')
    [[ -n "$token" ]] || { _w_err "host_enroll: could not create a token for $name"; return 1; }
  fi
  local url=$W_AUTH_URL endpoints=()
  [[ -n "${H_UNDERLAY[$name]}" ]] && endpoints+=(--endpoint "[${H_UNDERLAY[$name]}]:$W_WG_PORT")
  [[ -n "${H_UNDERLAY4[$name]:-}" ]] && endpoints+=(--endpoint "${H_UNDERLAY4[$name]}:$W_WG_PORT")
  [[ -z "${H_UNDERLAY[$name]}" ]] && url="https://$W_AUTH_ADDR4:8443"
  ip netns exec "${H_NS[$name]}" "$W_BIN/tpmesh-client" enroll --authority "$url" \
    --ca-fingerprint "$W_CA_FP" --hostname "$name" "${endpoints[@]}" \
    --tcti "${H_TCTI[$name]}" --state-dir "${H_DIR[$name]}" --token "$token" ||
    { _w_err "host_enroll: $name was not admitted"; return 1; }
  H_OVERLAY[$name]=$(_w_json_str "${H_DIR[$name]}/node.json" overlay_address)
  H_MESH[$name]=$(_w_json_str "${H_DIR[$name]}/node.json" mesh_prefix)
  [[ -n "${H_OVERLAY[$name]}" ]] || { _w_err "host_enroll: no overlay address in ${H_DIR[$name]}/node.json"; return 1; }
  H_MEMBER[$name]=1
}

_w_link_up() {  # NAME: its WireGuard interface exists and is up
  [[ "$(ip -n "${H_NS[$1]}" -o link show dev "${H_IF[$1]}" up 2>/dev/null)" == *"${H_IF[$1]}"* ]]
}

client_start() {
  local name=$1
  [[ -n "${H_NS[$name]:-}" ]] || { _w_err "client_start: no host '$name'"; return 1; }
  [[ -z "${H_CLIENT_PID[$name]:-}" ]] || { _w_err "client_start: $name's client runs already"; return 1; }
  echo "--- client start $(date +%T.%N)" >>"$W_DIR/hosts/$name/client.log"
  local tcti=()
  [[ "${W_CLIENT_TCTI:-0}" == 1 ]] && tcti=(--tcti "${H_TCTI[$name]}")
  ip netns exec "${H_NS[$name]}" "$W_BIN/tpmesh-client" run --state-dir "${H_DIR[$name]}" \
    --interface "${H_IF[$name]}" --listen-port "$W_WG_PORT" --poll-wait "${W_POLL_WAIT:-25}" "${tcti[@]}" \
    --wg-backend "${W_WG_BACKEND:-userspace}" \
    >>"$W_DIR/hosts/$name/client.log" 2>&1 &
  H_CLIENT_PID[$name]=$!
  # Ready once the client has set its interface up (a stale socket proves nothing).
  if ! wait_until "_w_link_up $name || ! _w_alive ${H_CLIENT_PID[$name]}" 10 ||
     ! _w_alive "${H_CLIENT_PID[$name]}"; then
    tail -n 20 "$W_DIR/hosts/$name/client.log" >&2
    client_stop "$name"
    _w_err "client_start: $name's client did not bring up ${H_IF[$name]} (log above)"
    return 1
  fi
}

client_stop() {  # a client in a long poll stops when the poll returns (<= W_POLL_WAIT s)
  local name=$1
  _w_stop_pid "${H_CLIENT_PID[$name]:-}" $((${W_POLL_WAIT:-25} + 5))
  H_CLIENT_PID[$name]=""
}

client_wait_exit() {  # NAME TIMEOUT: CLIENT_RC = exit status (or 255 on timeout)
  local name=$1 pid=${H_CLIENT_PID[$1]:-}
  CLIENT_RC=255
  [[ -n "$pid" ]] || { _w_err "client_wait_exit: $name's client is not running"; return 1; }
  wait_until "! _w_alive $pid" "${2:-10}" || return 1
  CLIENT_RC=0
  wait "$pid" 2>/dev/null || CLIENT_RC=$?
  H_CLIENT_PID[$name]=""
}

host_wg() {  # NAME ARGS...: wg ARGS for NAME's interface (e.g. host_wg a show peers)
  local name=$1 verb=$2
  shift 2
  ip netns exec "${H_NS[$name]}" wg "$verb" "${H_IF[$name]}" "$@"
}

wg_snapshot() {
  (umask 077 && host_wg "$1" showconf >"$W_DIR/hosts/$1/wg.conf") ||
    _w_err "wg_snapshot: cannot read $1's interface"
}

wg_replay() {
  local name=$1 ns=${H_NS[$1]} ifname=${H_IF[$1]}
  [[ -f "$W_DIR/hosts/$name/wg.conf" ]] || { _w_err "wg_replay: no snapshot of $name"; return 1; }
  ip netns exec "$ns" wireguard-go "$ifname" >/dev/null 2>&1 &&
    wait_until "[[ -S /var/run/wireguard/$ifname.sock ]]" 5 &&
    ip netns exec "$ns" wg setconf "$ifname" "$W_DIR/hosts/$name/wg.conf" &&
    ip -n "$ns" link set dev "$ifname" mtu 1420 &&
    ip -n "$ns" -6 address replace "${H_OVERLAY[$name]}/64" dev "$ifname" nodad &&
    ip -n "$ns" link set dev "$ifname" up &&
    ip -n "$ns" -6 route replace "${H_MESH[$name]}" dev "$ifname" ||
    _w_err "wg_replay: cannot recreate $ifname for $name"
}

ping_pair() {  # A B
  ip netns exec "${H_NS[$1]}" ping -6 -n -q -c1 -W1 "${H_OVERLAY[$2]}" >/dev/null 2>&1
}

ping_all() {  # [HOSTS...]
  local hosts=("$@") a b i rc=0 pids=() pairs=() failed=()
  if ((${#hosts[@]} == 0)); then
    for a in "${W_HOSTS[@]}"; do [[ "${H_MEMBER[$a]}" == 1 ]] && hosts+=("$a"); done
  fi
  for a in "${hosts[@]}"; do
    for b in "${hosts[@]}"; do
      [[ "$a" == "$b" ]] && continue
      ping_pair "$a" "$b" &
      pids+=("$!")
      pairs+=("$a->$b")
    done
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { rc=1; failed+=("${pairs[$i]}"); }
  done
  ((rc == 0)) || echo "ping_all: no reply for ${failed[*]}" >&2
  return "$rc"
}
