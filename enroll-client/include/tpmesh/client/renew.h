// Node certificate renewal with re-attestation (docs/protocol.md,
// "Certificate renewal"). The node certificate is short-lived; at half its
// life (keyrotate::ShouldRenew) the node proves its TPM state again: a fresh
// quote by its ENROLLED AK (state_dir/ak.blob) over the authority's nonce,
// plus a CSR for a NEW node key. A node that fails re-attestation is
// quarantined by the authority; this returns that error.
//
// Files (state_dir, 0600): node.key and node.crt are replaced as a pair:
//   1. node.key.new and node.crt.new are written (each atomically);
//   2. node.key.new -> node.key, then node.crt.new -> node.crt.
// A crash between the renames leaves node.crt.new without node.key.new;
// RecoverRenewal (run first by RenewNodeCert, and by the daemon at start)
// rolls that forward, so node.key and node.crt always end up matching.
#pragma once

#include <functional>
#include <string>

#include "tpmesh/attest/tpm.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"
#include "tpmesh/net/http.h"

namespace tpmesh::client {

// Completes or discards an interrupted key/cert swap (see above).
[[nodiscard]] Status RecoverRenewal(const std::string& state_dir);

// The validity window of a PEM certificate.
struct CertWindow {
  TimePoint not_before;
  TimePoint not_after;
};
[[nodiscard]] Result<CertWindow> ReadCertWindow(std::string_view cert_pem);

// OK while `cert_pem` (node.crt) is valid at `now` (not after its notAfter).
// Errors, both kFailedPrecondition: "node_cert_expired" (names the time;
// renewal authenticates with this certificate, so only a new enrollment,
// `tpmesh-client enroll --force`, helps) and "state_corrupt" (not a PEM
// certificate). Callers check before connecting: the authority's TLS layer
// drops an expired certificate without a word.
[[nodiscard]] Status CheckNotExpired(std::string_view cert_pem, TimePoint now);
// "2026-12-04 20:19:19 UTC", as the messages above print times.
std::string FormatUtc(TimePoint t);

// Renews state_dir/node.crt when due (or always with `force`). `client` must
// be authenticated with the CURRENT node certificate; it is stale after a
// renewal (callers reconnect). Returns whether the certificate was replaced.
// An expired certificate is CheckNotExpired's error, before any request.
[[nodiscard]] Result<bool> RenewNodeCert(const std::string& state_dir, attest::Tpm& tpm,
                                         net::Client& client, const Clock& clock,
                                         bool force = false);

// `tpmesh-client renew`: RenewNodeCert over a client built from the state
// directory (authority URL, ca.crt, current node.crt/node.key). An expired
// node.crt cannot be renewed: the node enrolls again instead, as itself
// (ReenrollOptions, enroll.h: same EK, no token, new WireGuard and node
// keys), and true is returned; `progress` gets its lines (may be null).
// Errors also LoadNodeFiles's ("not_enrolled", "state_corrupt";
// node_state.h), "node_cert_expired" when no saved config names the node,
// and EnrollOver's.
[[nodiscard]] Result<bool> RenewFromStateDir(
    const std::string& state_dir, attest::Tpm& tpm, bool force,
    const std::function<void(const std::string&)>& progress = nullptr);

}  // namespace tpmesh::client
