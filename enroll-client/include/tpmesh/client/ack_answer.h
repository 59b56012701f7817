// The authority's answer to POST /v1/node/ack (docs/protocol.md), as the
// daemon reads it: proto::AckResponse (proto/node.h), the one typed home of
// that body, with the daemon's own error reason.
//   {"ok": true}, optionally with
//   "ca_bundle": "<PEM>"                       a CA rotation is under way
//   "rotation": {"action": "prepare"}          register a next WireGuard key
//   "rotation": {"action": "switch", "next_public_key": "<base64, 32 bytes>"}
// Unknown fields are ignored; a field that is null counts as absent.
#pragma once

#include <string_view>

#include "tpmesh/common/result.h"
#include "tpmesh/proto/node.h"

namespace tpmesh::client {

using AckAnswer = proto::AckResponse;

// kInvalidArgument "invalid_ack_answer", "ack answer: <field>: <problem>",
// when the body is not a JSON object, a known field has the wrong type, the
// action is unknown or a switch lacks a 32-byte next_public_key. The daemon
// then acts on none of the answer (it logs the error; the acknowledgement
// itself was taken, and the authority repeats a directive on the next ack).
[[nodiscard]] Result<AckAnswer> ParseAckAnswer(std::string_view body);

}  // namespace tpmesh::client
