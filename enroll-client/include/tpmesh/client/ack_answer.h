// The authority's answer to POST /v1/node/ack (docs/protocol.md), read
// without exceptions: `{"ok": true}`, optionally with
//   "ca_bundle": "<PEM>"                       a CA rotation is under way
//   "rotation": {"action": "prepare"}          register a next WireGuard key
//   "rotation": {"action": "switch", "next_public_key": "<base64, 32 bytes>"}
// Unknown fields are ignored; a field that is null counts as absent.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::client {

struct AckAnswer {
  enum class Rotation { kNone, kPrepare, kSwitch };
  std::optional<std::string> ca_bundle;
  Rotation rotation = Rotation::kNone;
  Bytes next_public_key;  // 32 bytes for kSwitch, else empty
};

// kInvalidArgument "invalid_ack_answer", naming the field, when the body is
// not a JSON object, a known field has the wrong type, the action is unknown
// or a switch lacks a 32-byte next_public_key. The daemon then acts on none
// of the answer (it logs the error; the acknowledgement itself was taken,
// and the authority repeats a directive on the next ack).
[[nodiscard]] Result<AckAnswer> ParseAckAnswer(std::string_view body);

}  // namespace tpmesh::client
