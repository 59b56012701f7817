# Shell helpers for scripts that need a simulated TPM (sourced, not run).
# swtpm_new DIR [CA_DIR]: manufactures a TPM in DIR, its EK certificates
# signed by the local CA in CA_DIR (default DIR/ca; give several TPMs one
# CA_DIR to model one manufacturer), and starts swtpm on a free TCP port.
# Sets SWTPM_TCTI, SWTPM_PID, SWTPM_TRUST (a directory with only the CA's
# root and intermediate certificates).

free_port() {  # prints a TCP port p such that p and p+1 are free
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 20000))
    if ! ss -Htln "( sport = :$p or sport = :$((p + 1)) )" | grep -q .; then
      echo "$p"; return 0
    fi
  done
  return 1
}

swtpm_new() {
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
  local port
  port=$(free_port) || { echo "no free TCP port for swtpm" >&2; return 1; }
  swtpm socket --tpm2 --tpmstate dir="$dir/state" \
    --server type=tcp,port="$port",bindaddr=127.0.0.1 --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
    --flags not-need-init,startup-clear --log file="$dir/swtpm.log" &
  SWTPM_PID=$!
  SWTPM_TCTI="swtpm:host=127.0.0.1,port=$port"
  SWTPM_TRUST="$dir/trust"
  for _ in $(seq 1 50); do
    ss -Htln "( sport = :$port )" | grep -q . && return 0
    sleep 0.1
  done
  echo "swtpm did not start; see $dir/swtpm.log" >&2
  return 1
}
