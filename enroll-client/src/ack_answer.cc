#include "tpmesh/client/ack_answer.h"

#include <nlohmann/json.hpp>

namespace tpmesh::client {
namespace {

using nlohmann::json;

Error Invalid(const std::string& message) {
  return MakeError(Code::kInvalidArgument, "invalid_ack_answer", "ack answer: " + message);
}

// The field, or nullptr when it is absent or null.
const json* Field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<AckAnswer::Rotation> ParseRotation(const json& r, Bytes& next_public_key) {
  if (!r.is_object()) return Invalid("'rotation' is not an object");
  const json* action = Field(r, "action");
  if (action == nullptr) return Invalid("'rotation.action' is missing");
  if (!action->is_string()) return Invalid("'rotation.action' is not a string");
  const std::string& a = action->get_ref<const std::string&>();
  if (a == "prepare") return AckAnswer::Rotation::kPrepare;
  if (a != "switch") return Invalid("unknown 'rotation.action' (want \"prepare\" or \"switch\")");
  const json* key = Field(r, "next_public_key");
  if (key == nullptr || !key->is_string()) {
    return Invalid("'rotation.next_public_key' of a switch is missing or not a string");
  }
  auto decoded = Base64Decode(key->get_ref<const std::string&>(), "rotation.next_public_key");
  if (!decoded.ok() || decoded->size() != 32) {
    return Invalid("'rotation.next_public_key' is not a base64 32-byte WireGuard key");
  }
  next_public_key = std::move(*decoded);
  return AckAnswer::Rotation::kSwitch;
}

}  // namespace

Result<AckAnswer> ParseAckAnswer(std::string_view body) {
  const json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Invalid("not a JSON object");
  AckAnswer out;
  if (const json* ca = Field(j, "ca_bundle")) {
    if (!ca->is_string()) return Invalid("'ca_bundle' is not a string");
    out.ca_bundle = ca->get<std::string>();
  }
  if (const json* r = Field(j, "rotation")) {
    TPMESH_ASSIGN_OR_RETURN(out.rotation, ParseRotation(*r, out.next_public_key));
  }
  return out;
}

}  // namespace tpmesh::client
