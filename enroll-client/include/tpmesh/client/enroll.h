// First-boot enrollment of a node: TPM attestation against the authority,
// then the node's state saved in its state directory.
//
// State directory (0700; secrets 0600):
//   wg.key        WireGuard private key (base64, as `wg genkey` writes it).
//                 Generated here; never leaves the host. A first enrollment
//                 keeps one it finds; a re-enrollment (force over an existing
//                 node.json) makes a new one in wg.key.new, which replaces
//                 wg.key (one rename) only once the authority accepted it.
//   wg.pub        its public key (base64)
//   ak.blob       the TPM-wrapped attestation key (useless off this TPM)
//   node.key      private key of the node's mTLS certificate (generated here)
//   node.crt      the node certificate the authority issued
//   ca.crt        the authority CA bundle (pinned by fingerprint at first use)
//   authority     the authority URL
//   node.json     enrollment result: node id, addresses, generation, peers,
//                 config-signing key
// Files are written atomically (temp + rename); node.json last, so a crash
// mid-enrollment leaves a directory that enrolls again cleanly.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/attest/tpm.h"
#include "tpmesh/client/node_state.h"
#include "tpmesh/common/env.h"
#include "tpmesh/meshcfg/meshcfg.h"
#include "tpmesh/net/http.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::client {

struct EnrollOptions {
  std::string authority_url;   // https://[fd00::1]:8443
  std::string ca_fingerprint;  // hex SHA-256 of the authority CA (printed by init)
  std::string state_dir = "/var/lib/tpmesh";
  std::string hostname;
  std::vector<std::string> endpoints;  // this host's underlay endpoints ("[v6]:port")
  std::optional<std::string> token;
  std::optional<attest::KeyAlg> ek_alg;  // default: the first EK with a certificate, RSA first
  bool force = false;                    // enroll again even if already enrolled (new keys)
  // Re-enroll as this node (20 hex chars): the EK is the one whose
  // fingerprint names it, whatever ek_alg says ("ek_mismatch" if none does).
  std::optional<std::string> node_id;
  int wait_for_approval_seconds = 0;  // 0: return at once when queued
  int poll_interval_seconds = 5;
};

struct EnrollOutcome {
  bool already_enrolled = false;  // a no-op: state existed and force was false
  proto::EnrollFinishResponse result;
};

// `progress` receives one line per step for the operator (may be null).
[[nodiscard]] Result<EnrollOutcome> Enroll(const EnrollOptions& options, attest::Tpm& tpm,
                                           const std::function<void(const std::string&)>& progress);

// Enroll's attestation and state writes over an HTTP client the caller made
// (anonymous, verifying the authority against a CA bundle it already
// trusts): no CA pinning, no "already enrolled" shortcut. The daemon's
// recovery of an expired node certificate (daemon.h) runs it with
// force = true, no token and node_id set. Waits for approval only if
// wait_for_approval_seconds > 0 (a real sleep).
[[nodiscard]] Result<EnrollOutcome> EnrollOver(
    const EnrollOptions& options, net::Client& http, attest::Tpm& tpm,
    const std::function<void(const std::string&)>& progress);

// The EK of `tpm` whose fingerprint names node `node_id` (the first 10
// bytes of its SPKI SHA-256, in hex). Error "ek_mismatch" when none does.
[[nodiscard]] Result<attest::EkBundle> EkOfNode(const std::string& node_id, attest::Tpm& tpm);

// How to enroll again as the node `files` hold (its certificate expired):
// force, no token, node_id = the node's, the enrolled authority URL, and
// hostname and endpoints from the node's own entry in `held`, its last
// verified config (null: none). Error "no_config" when `held` does not name
// the node.
[[nodiscard]] Result<EnrollOptions> ReenrollOptions(const NodeFiles& files,
                                                    const meshcfg::MeshState* held,
                                                    const std::string& state_dir);

// A WireGuard keypair (X25519, private key clamped as wg(8) does).
struct WgKeyPair {
  SecretBytes private_key;  // 32 bytes
  Bytes public_key;         // 32 bytes
};
WgKeyPair GenerateWgKeyPair(Random& rng);
[[nodiscard]] Result<Bytes> WgPublicFromPrivate(ByteView private_key);

}  // namespace tpmesh::client
