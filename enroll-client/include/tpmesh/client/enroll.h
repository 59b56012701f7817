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
#include "tpmesh/common/env.h"
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
  int wait_for_approval_seconds = 0;     // 0: return at once when queued
  int poll_interval_seconds = 5;
};

struct EnrollOutcome {
  bool already_enrolled = false;  // a no-op: state existed and force was false
  proto::EnrollFinishResponse result;
};

// `progress` receives one line per step for the operator (may be null).
[[nodiscard]] Result<EnrollOutcome> Enroll(const EnrollOptions& options, attest::Tpm& tpm,
                                           const std::function<void(const std::string&)>& progress);

// A WireGuard keypair (X25519, private key clamped as wg(8) does).
struct WgKeyPair {
  SecretBytes private_key;  // 32 bytes
  Bytes public_key;         // 32 bytes
};
WgKeyPair GenerateWgKeyPair(Random& rng);
[[nodiscard]] Result<Bytes> WgPublicFromPrivate(ByteView private_key);

}  // namespace tpmesh::client
