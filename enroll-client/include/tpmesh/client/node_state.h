// The node's enrollment as its state directory holds it (the files are
// listed in enroll.h), read by `tpmesh-client run`, `status` and the
// daemon's reload after a re-enrollment.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::client {

struct NodeFiles {
  proto::EnrollFinishResponse enrolled;     // node.json
  std::vector<std::string> authority_urls;  // `authority` first, then the extra ones
  SecretBytes wg_private;                   // wg.key
  std::string node_cert, node_key, ca;      // node.crt, node.key (secret), ca.crt

  NodeFiles() = default;
  NodeFiles(const NodeFiles&) = delete;
  NodeFiles& operator=(const NodeFiles&) = delete;
  ~NodeFiles();  // wipes node_key
};

// Completes an interrupted certificate renewal (RecoverRenewal), then reads
// the files. Errors: "not_enrolled" (no node.json), "state_corrupt" (a file
// missing, unreadable or not what it should be; the message names it). Both
// are kFailedPrecondition.
[[nodiscard]] Result<std::unique_ptr<NodeFiles>> LoadNodeFiles(
    const std::string& state_dir, const std::vector<std::string>& extra_authority_urls = {});

// True when both hold the same enrollment, node certificate and key, CA
// bundle and WireGuard key (constant-time for the secrets).
bool SameNodeFiles(const NodeFiles& a, const NodeFiles& b);

}  // namespace tpmesh::client
