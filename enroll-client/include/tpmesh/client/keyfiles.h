// The node's WireGuard key files in its state directory, and the local half
// of a key rotation (docs/protocol.md, "Key rotation").
//
//   wg.key       the current private key (base64, 0600)
//   wg.pub       its public key (base64)
//   wg.next.key  the next private key, from registration until the switch
//
// The private keys never leave these files and the WireGuard device. Every
// write is atomic (pki::WritePrivateFile); after a crash at any point the
// directory holds either the old or the new current key, and a next key that
// equals the current one is discarded on the next load.
// Not thread-safe: one daemon per state directory.
#pragma once

#include <optional>
#include <string>

#include "tpmesh/client/enroll.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh::client {

// Reads a base64 private key file. Errors: "state_corrupt" (names the file).
[[nodiscard]] Result<WgKeyPair> ReadWgKeyFile(const std::string& path);

// wg.next.key if it holds a valid key other than `current_public`, else a
// fresh keypair written there (0600).
[[nodiscard]] Result<WgKeyPair> LoadOrCreateNextKey(const std::string& state_dir,
                                                    ByteView current_public, Random& rng);
// wg.next.key if present and valid and not `current_public`; nullopt otherwise.
[[nodiscard]] Result<std::optional<WgKeyPair>> LoadNextKey(const std::string& state_dir,
                                                           ByteView current_public);
// Removes wg.next.key (a key the authority refused, or one we lost track of).
void DiscardNextKey(const std::string& state_dir);

// The switch, on disk: wg.key and wg.pub become `next`, wg.next.key goes.
[[nodiscard]] Status PromoteNextKey(const std::string& state_dir, const WgKeyPair& next);

}  // namespace tpmesh::client
