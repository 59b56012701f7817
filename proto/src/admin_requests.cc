#include "tpmesh/proto/admin_requests.h"

#include <nlohmann/json.hpp>

#include "json_util.h"

namespace tpmesh::proto {
namespace {

using internal::Dump;
using nlohmann::json;

}  // namespace

std::string ToJson(const EmptyRequest&) { return "{}"; }

Result<EmptyRequest> ParseEmptyRequest(std::string_view text) {
  AdminFields f(text);
  return f.Finish(EmptyRequest{});
}

std::string ToJson(const NodeActionRequest& v) {
  json j = json::object();
  if (!v.reason.empty()) j["reason"] = v.reason;
  return Dump(j);
}

Result<NodeActionRequest> ParseNodeActionRequest(std::string_view text) {
  AdminFields f(text);
  NodeActionRequest v{f.Text("reason").value_or("")};
  return f.Finish(std::move(v));
}

std::string ToJson(const TokenCreateRequest& v) {
  return Dump(json{{"ttl_seconds", v.ttl_seconds}, {"comment", v.comment}});
}

Result<TokenCreateRequest> ParseTokenCreateRequest(std::string_view text) {
  AdminFields f(text);
  TokenCreateRequest v;
  v.ttl_seconds = f.Int("ttl_seconds").value_or(v.ttl_seconds);
  v.comment = f.Text("comment").value_or("");
  return f.Finish(std::move(v));
}

std::string ToJson(const EkAllowRequest& v) {
  return Dump(json{{"ek_sha256", HexEncode(v.ek_sha256)}, {"comment", v.comment}});
}

Result<EkAllowRequest> ParseEkAllowRequest(std::string_view text) {
  AdminFields f(text);
  auto hash = f.Sha256Hex("ek_sha256");
  EkAllowRequest v{Bytes{}, f.Text("comment").value_or("")};
  f.Require("ek_sha256", hash);
  if (hash) v.ek_sha256 = std::move(*hash);
  return f.Finish(std::move(v));
}

std::string ToJson(const PolicyPutRequest& v) {
  json j{{"name", v.name}};
  if (v.from_node) j["from_node"] = *v.from_node;
  if (v.pcrs) {
    json pcrs = json::object();
    for (const auto& [pcr, values] : *v.pcrs) {
      json hex = json::array();
      for (const auto& value : values) hex.push_back(HexEncode(value));
      pcrs[std::to_string(pcr)] = std::move(hex);
    }
    j["pcrs"] = std::move(pcrs);
  }
  return Dump(j);
}

Result<PolicyPutRequest> ParsePolicyPutRequest(std::string_view text) {
  AdminFields f(text);
  PolicyPutRequest v;
  auto name = f.PolicyName("name");
  v.from_node = f.NodeRef("from_node");
  v.pcrs = f.Pcrs("pcrs");
  f.Require("name", name);
  if (v.from_node && v.pcrs) {
    f.Fail("pcrs", "give either from_node (adopt) or pcrs (define), not both");
  }
  if (!v.from_node && !v.pcrs) {
    f.Fail("pcrs", "required field missing (or from_node, to adopt a node's values)");
  }
  if (name) v.name = std::move(*name);
  return f.Finish(std::move(v));
}

}  // namespace tpmesh::proto
