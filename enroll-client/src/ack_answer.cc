#include "tpmesh/client/ack_answer.h"

namespace tpmesh::client {

Result<AckAnswer> ParseAckAnswer(std::string_view body) {
  auto r = proto::ParseAckResponse(body);
  if (r.ok()) return r;
  return MakeError(Code::kInvalidArgument, "invalid_ack_answer",
                   "ack answer: " + r.error().message);
}

}  // namespace tpmesh::client
