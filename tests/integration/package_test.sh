#!/usr/bin/env bash
# The Debian packages (issue 14, items 3 and 4): cpack builds tpmesh-authority,
# tpmesh-client and tpmeshctl from this build; dpkg installs them into a
# fresh root (dpkg --root; maintainer scripts chrootless, so nothing touches
# this host's users). Asserts the layout (binaries, conffiles, units, man
# pages, bash completion, vendor roots), what dpkg recorded (installed,
# conffiles), the dependencies dpkg-shlibdeps found, that systemd-analyze
# verify accepts the units, that the installed programs run and read the
# shipped config files, and that the completion completes.
# Exits 77 (skipped) without root, cpack, dpkg, help2man or systemd-analyze.
set -uo pipefail
BUILD=${1:?usage: package_test.sh BUILD_DIR}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || skip "needs root (dpkg --root)"
for t in cpack dpkg dpkg-deb dpkg-shlibdeps help2man systemd-analyze; do
  command -v "$t" >/dev/null || skip "$t is not installed"
done
[[ -f "$BUILD/CPackConfig.cmake" ]] || fail "$BUILD has no CPackConfig.cmake"
grep -qE '^TPMESH_(SANITIZE|TSAN):BOOL=ON' "$BUILD/CMakeCache.txt" &&
  skip "a sanitizer build: packages come from the normal build"
T=$(mktemp -d /tmp/tpmesh-package.XXXXXX)
trap 'rm -rf "$T"' EXIT

echo "== cpack"
(cd "$BUILD" && cpack -G DEB -B "$T/debs" >"$T/cpack.log" 2>&1) || { cat "$T/cpack.log" >&2; fail "cpack failed"; }
debs=("$T"/debs/*.deb)
((${#debs[@]} == 3)) || fail "want 3 packages, got: ${debs[*]}"
for p in tpmesh-authority tpmesh-client tpmeshctl; do
  ls "$T/debs/${p}_"*.deb >/dev/null 2>&1 || fail "no $p package in ${debs[*]}"
done
client_deb=$(ls "$T"/debs/tpmesh-client_*.deb)
depends=$(dpkg-deb -f "$client_deb" Depends)
echo "tpmesh-client Depends: $depends"
[[ "$depends" == *libtss2-esys* && "$depends" == *libmnl* && "$depends" == *libsodium* ]] ||
  fail "tpmesh-client's Depends lack the TPM library, libmnl or libsodium: $depends"
[[ "$depends" != *wireguard-go* ]] || fail "tpmesh-client depends on wireguard-go (kernel WireGuard needs none)"
recommends=$(dpkg-deb -f "$client_deb" Recommends)
[[ "$recommends" == *wireguard-go* ]] || fail "tpmesh-client does not recommend wireguard-go: $recommends"

echo "== dpkg --root into a fresh root"
R=$T/root
mkdir -p "$R/var/lib/dpkg/info" "$R/var/lib/dpkg/updates"
touch "$R/var/lib/dpkg/status"
dpkg --root="$R" --force-script-chrootless --force-depends --log=/dev/null -i "${debs[@]}" \
  >"$T/dpkg.log" 2>&1 || { cat "$T/dpkg.log" >&2; fail "dpkg -i into $R failed"; }
for p in tpmesh-authority tpmesh-client tpmeshctl; do
  [[ "$(dpkg-query --root="$R" -W -f='${Status}' "$p")" == "install ok installed" ]] ||
    fail "$p is not installed in $R"
done
dpkg-query --root="$R" -W -f='${Conffiles}\n' tpmesh-client | grep -q '/etc/tpmesh/client.toml' ||
  fail "client.toml is not a conffile of tpmesh-client"
dpkg-query --root="$R" -W -f='${Conffiles}\n' tpmesh-authority | grep -q '/etc/tpmesh/authority.toml' ||
  fail "authority.toml is not a conffile of tpmesh-authority"
for f in usr/bin/tpmesh-authority usr/bin/tpmesh-client usr/bin/tpmeshctl \
  etc/tpmesh/authority.toml etc/tpmesh/client.toml \
  lib/systemd/system/tpmesh-authority.service lib/systemd/system/tpmesh-client.service \
  lib/systemd/system/tpmesh-enroll.service \
  usr/share/man/man8/tpmesh-authority.8.gz usr/share/man/man8/tpmesh-client.8.gz \
  usr/share/man/man1/tpmeshctl.1.gz usr/share/tpmesh/certs/README.md \
  usr/share/tpmesh/certs/MANIFEST.tsv usr/share/tpmesh/certs/anchors/stmicro-stm-tpm-ecc-root-ca-01.pem \
  usr/share/bash-completion/completions/tpmesh-client \
  usr/share/bash-completion/completions/tpmesh-authority \
  usr/share/bash-completion/completions/tpmeshctl usr/share/doc/tpmesh-client/operations.md; do
  [[ -e "$R/$f" ]] || fail "/$f is not installed"
done
[[ -x "$R/usr/bin/tpmesh-client" ]] || fail "/usr/bin/tpmesh-client is not executable"
zcat "$R/usr/share/man/man8/tpmesh-client.8.gz" | grep -q '^\.SH' || fail "tpmesh-client.8 is no man page"
zcat "$R/usr/share/man/man8/tpmesh-client.8.gz" | grep -q 'config' || fail "tpmesh-client.8 lacks its subcommands"
echo "ok: three packages installed, with conffiles, units, man pages and completion"

echo "== systemd-analyze verify"
# The root gets systemd's own units, as a Debian host has them (the targets
# ours are ordered against); Documentation= man pages are looked up in it.
for u in /lib/systemd/system/*; do
  [[ -e "$R/lib/systemd/system/${u##*/}" ]] || cp -a "$u" "$R/lib/systemd/system/"
done
verify_out=$(MANPATH="$R/usr/share/man" systemd-analyze verify --root="$R" \
  /lib/systemd/system/tpmesh-authority.service /lib/systemd/system/tpmesh-client.service \
  /lib/systemd/system/tpmesh-enroll.service 2>&1)
rc=$?
[[ -n "$verify_out" ]] && echo "$verify_out" | head -n 20
((rc == 0)) || fail "systemd-analyze verify failed (exit $rc)"
[[ -z "$verify_out" ]] || fail "systemd-analyze verify has objections (above)"
echo "ok: systemd-analyze verify accepts the units"

echo "== the installed programs"
for p in tpmesh-authority tpmesh-client tpmeshctl; do
  "$R/usr/bin/$p" --version | grep -qE '^(tpmesh-authority |tpmesh-client |tpmeshctl )?[0-9]+\.[0-9]+' ||
    fail "$p --version"
done
out=$("$R/usr/bin/tpmesh-client" --config "$R/etc/tpmesh/client.toml" config check --tcti none 2>&1)
[[ "$out" == *"state directory: /var/lib/tpmesh"* ]] || fail "the shipped client.toml does not load: $out"
out=$("$R/usr/bin/tpmesh-authority" config check --config "$R/etc/tpmesh/authority.toml" \
  --state-dir "$T/no-state" --ek-trust-dir "$R/usr/share/tpmesh/certs" 2>&1)
[[ "$out" == *"FAIL  state directory"* && "$out" == *"EK trust directory"* ]] ||
  fail "the shipped authority.toml does not load: $out"
[[ "$out" =~ EK\ trust\ directory:\ [^:]*certs:\ ([0-9]+)\ root ]] && ((BASH_REMATCH[1] >= 10)) ||
  fail "the shipped vendor roots do not load: $out"
words=$(bash -c ". '$R/usr/share/bash-completion/completions/tpmeshctl'
  PATH='$R/usr/bin':\$PATH
  COMP_WORDS=(tpmeshctl no); COMP_CWORD=1; _tpmesh; echo \"\${COMPREPLY[*]}\"
  COMP_WORDS=(tpmeshctl nodes l); COMP_CWORD=2; _tpmesh; echo \"\${COMPREPLY[*]}\"
  COMP_WORDS=(tpmesh-client run --st); COMP_CWORD=2; _tpmesh; echo \"\${COMPREPLY[*]}\"")
echo "completion: $(tr '\n' '|' <<<"$words")"
[[ "$(sed -n 1p <<<"$words")" == nodes ]] || fail "'tpmeshctl no<TAB>' does not complete to nodes"
[[ "$(sed -n 2p <<<"$words")" == *list* ]] || fail "'tpmeshctl nodes l<TAB>' does not offer list"
[[ "$(sed -n 3p <<<"$words")" == *--state-dir* ]] || fail "'tpmesh-client run --st<TAB>' does not offer --state-dir"
echo "ok: the programs run, read the shipped config files, and complete"
echo "package_test: PASSED"
