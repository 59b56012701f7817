# shellcheck shell=bash
# Shell helpers for scripts that need a simulated TPM (sourced, not run).
# swtpm_new DIR [CA_DIR]: manufactures a TPM in DIR, its EK certificates
# signed by the local CA in CA_DIR (default DIR/ca; give several TPMs one
# CA_DIR to model one manufacturer), and starts swtpm on a free TCP port.
# Sets SWTPM_TCTI, SWTPM_PID, SWTPM_TRUST (a directory with only the CA's
# root and intermediate certificates).
# The two halves are usable alone: swtpm_manufacture DIR [CA_DIR] (sets
# SWTPM_TRUST) and swtpm_start DIR (sets SWTPM_TCTI, SWTPM_PID).
# With SWTPM_NETNS=NS set (e.g. `SWTPM_NETNS=ns1 swtpm_new ...`), swtpm runs
# inside network namespace NS (ip netns exec, so SWTPM_PID is swtpm's own
# pid) and its 127.0.0.1 port is only reachable from inside NS.

_swtpm_in_ns() {  # runs "$@" inside $SWTPM_NETNS when set
  if [[ -n "${SWTPM_NETNS:-}" ]]; then ip netns exec "$SWTPM_NETNS" "$@"; else "$@"; fi
}

free_port() {  # prints a TCP port p such that p and p+1 are free (in $SWTPM_NETNS if set)
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! _swtpm_in_ns ss -Htln "( sport = :$p or sport = :$((p + 1)) )" | grep -q .; then
      echo "$p"; return 0
    fi
  done
  return 1
}

swtpm_manufacture() {
  local dir=$1 ca=${2:-$1/ca}
  mkdir -p "$dir/state" "$ca" "$dir/trust"
  cat >"$dir/localca.conf" <<CONF
statedir = $ca
signingkey = $ca/signkey.pem
issuercert = $ca/issuercert.pem
certserial = $ca/certserial
CONF
  cat >"$dir/setup.conf" <<CONF
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $dir/localca.conf
create_certs_tool_options = /etc/swtpm-localca.options
CONF
  swtpm_setup --tpm2 --tpmstate "$dir/state" --create-ek-cert --create-platform-cert \
    --lock-nvram --pcr-banks sha256 --config "$dir/setup.conf" >"$dir/setup.log" 2>&1 || {
    echo "swtpm_setup failed; see $dir/setup.log" >&2; return 1; }
  cp "$ca/swtpm-localca-rootca-cert.pem" "$ca/issuercert.pem" "$dir/trust/"
  SWTPM_TRUST="$dir/trust"
}

swtpm_start() {
  local dir=$1 port in_ns=()
  # A prefix, not _swtpm_in_ns: $! must be swtpm's pid (ip netns exec execs it).
  [[ -n "${SWTPM_NETNS:-}" ]] && in_ns=(ip netns exec "$SWTPM_NETNS")
  port=$(free_port) || { echo "no free TCP port for swtpm" >&2; return 1; }
  "${in_ns[@]}" swtpm socket --tpm2 --tpmstate dir="$dir/state" \
    --server type=tcp,port="$port",bindaddr=127.0.0.1 --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
    --flags not-need-init,startup-clear --log file="$dir/swtpm.log" &
  SWTPM_PID=$!
  SWTPM_TCTI="swtpm:host=127.0.0.1,port=$port"
  for _ in $(seq 1 50); do
    _swtpm_in_ns ss -Htln "( sport = :$port )" | grep -q . && return 0
    sleep 0.1
  done
  echo "swtpm did not start; see $dir/swtpm.log" >&2
  return 1
}

swtpm_new() {
  swtpm_manufacture "$@" && swtpm_start "$1"
}
