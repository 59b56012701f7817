#include "tpmesh/proto/keys.h"

#include <nlohmann/json.hpp>

#include "json_util.h"
#include "tpmesh/json/reader.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_fields.h"

namespace tpmesh::proto {
namespace {

using internal::Dump;
using internal::ParseWith;
using nlohmann::json;

constexpr size_t kMaxKeyText = 64;  // base64 of 32 bytes, hex of 32 bytes, state and phase names
constexpr size_t kMaxRotateNodes = 65536;

template <typename T, typename Read>
std::vector<T> ReadList(JsonReader& r, const char* field, Read read) {
  return internal::ReadList<T>(r, field, kMaxAdminList, read);
}

int64_t Time(JsonReader& r, const char* field) { return r.Int(field, 0, INT64_MAX); }

json PolicyJson(const KeyPolicyView& p) {
  return json{{"period_seconds", p.period_seconds},
              {"lead_time_seconds", p.lead_time_seconds},
              {"overlap_seconds", p.overlap_seconds},
              {"jitter_seconds", p.jitter_seconds},
              {"confirm_deadline_seconds", p.confirm_deadline_seconds},
              {"retry_after_seconds", p.retry_after_seconds},
              {"scheduled", p.scheduled}};
}

KeyPolicyView ReadPolicy(JsonReader r) {
  KeyPolicyView p;
  p.period_seconds = Time(r, "period_seconds");
  p.lead_time_seconds = Time(r, "lead_time_seconds");
  p.overlap_seconds = Time(r, "overlap_seconds");
  p.jitter_seconds = Time(r, "jitter_seconds");
  p.confirm_deadline_seconds = Time(r, "confirm_deadline_seconds");
  p.retry_after_seconds = Time(r, "retry_after_seconds");
  p.scheduled = r.OptBool("scheduled").value_or(false);
  if (!r.Raw("scheduled")) r.Fail("scheduled", "required field missing");
  return p;
}

json RotationJson(const NodeRotationView& v) {
  return json{
      {"phase", v.phase},       {"next_public_key", v.next_public_key},   {"attempt", v.attempt},
      {"awaiting", v.awaiting}, {"confirm_deadline", v.confirm_deadline}, {"retry_at", v.retry_at}};
}

NodeRotationView ReadRotation(JsonReader r) {
  NodeRotationView v;
  v.phase = r.String("phase", kMaxKeyText);
  v.next_public_key = r.String("next_public_key", kMaxKeyText);
  v.attempt = r.Int("attempt", 0, UINT32_MAX);
  v.awaiting = r.StringList("awaiting", kMaxAdminList, 253, /*required=*/true);
  v.confirm_deadline = Time(r, "confirm_deadline");
  v.retry_at = Time(r, "retry_at");
  return v;
}

json NodeJson(const NodeKeysView& n) {
  return json{{"node_id", n.node_id},
              {"hostname", n.hostname},
              {"status", n.status},
              {"wg_public_key", n.wg_public_key},
              {"key_since", n.key_since},
              {"age_seconds", n.age_seconds},
              {"next_rotation", n.next_rotation},
              {"previous_public_key", n.previous_public_key},
              {"previous_valid_until", n.previous_valid_until},
              {"rotation", n.rotation ? RotationJson(*n.rotation) : json(nullptr)}};
}

NodeKeysView ReadNode(JsonReader& r) {
  NodeKeysView n;
  n.node_id = r.String("node_id", 64);
  n.hostname = r.String("hostname", 253);
  n.status = r.String("status", kMaxKeyText);
  n.wg_public_key = r.String("wg_public_key", kMaxKeyText);
  n.key_since = Time(r, "key_since");
  n.age_seconds = Time(r, "age_seconds");
  n.next_rotation = Time(r, "next_rotation");
  n.previous_public_key = r.String("previous_public_key", kMaxKeyText);
  n.previous_valid_until = Time(r, "previous_valid_until");
  if (r.Raw("rotation")) n.rotation = ReadRotation(r.Object("rotation"));
  return n;
}

json SigningKeyJson(const SigningKeyView& k) {
  return json{{"public_key", k.public_key},
              {"state", k.state},
              {"not_before", k.not_before},
              {"not_after", k.not_after}};
}

SigningKeyView ReadSigningKey(JsonReader& r) {
  SigningKeyView k;
  k.public_key = r.String("public_key", kMaxKeyText);
  k.state = r.String("state", kMaxKeyText);
  k.not_before = Time(r, "not_before");
  k.not_after = Time(r, "not_after");
  return k;
}

json CaJson(const CaView& c) {
  return json{{"fingerprint", c.fingerprint},
              {"state", c.state},
              {"not_before", c.not_before},
              {"not_after", c.not_after}};
}

CaView ReadCa(JsonReader& r) {
  CaView c;
  c.fingerprint = r.String("fingerprint", kMaxKeyText);
  c.state = r.String("state", kMaxKeyText);
  c.not_before = Time(r, "not_before");
  c.not_after = Time(r, "not_after");
  return c;
}

KeysResponse ReadKeys(JsonReader& r) {
  KeysResponse v;
  v.generation = r.Int("generation", 0, INT64_MAX);
  v.now = Time(r, "now");
  v.policy = ReadPolicy(r.Object("policy"));
  v.config_signing = ReadList<SigningKeyView>(r, "config_signing", ReadSigningKey);
  v.authority_ca = ReadList<CaView>(r, "authority_ca", ReadCa);
  v.nodes = ReadList<NodeKeysView>(r, "nodes", ReadNode);
  return v;
}

}  // namespace

std::string ToJson(const KeysResponse& v) {
  json signing = json::array();
  for (const auto& k : v.config_signing) signing.push_back(SigningKeyJson(k));
  json cas = json::array();
  for (const auto& c : v.authority_ca) cas.push_back(CaJson(c));
  json nodes = json::array();
  for (const auto& n : v.nodes) nodes.push_back(NodeJson(n));
  return Dump(json{{"generation", v.generation},
                   {"now", v.now},
                   {"policy", PolicyJson(v.policy)},
                   {"config_signing", std::move(signing)},
                   {"authority_ca", std::move(cas)},
                   {"nodes", std::move(nodes)}});
}

Result<KeysResponse> ParseKeysResponse(std::string_view text) {
  return ParseWith<KeysResponse>(text, ReadKeys);
}

std::string ToJson(const KeysRotateResponse& v) {
  json arr = json::array();
  for (const auto& n : v.requested)
    arr.push_back(json{{"node_id", n.node_id}, {"hostname", n.hostname}});
  return Dump(json{{"requested", std::move(arr)}, {"generation", v.generation}});
}

Result<KeysRotateResponse> ParseKeysRotateResponse(std::string_view text) {
  return ParseWith<KeysRotateResponse>(text, [](JsonReader& r) {
    KeysRotateResponse v;
    v.requested = ReadList<RotationRequestedView>(r, "requested", [](JsonReader& item) {
      return RotationRequestedView{item.String("node_id", 64), item.String("hostname", 253)};
    });
    v.generation = r.Int("generation", 0, INT64_MAX);
    return v;
  });
}

std::string ToJson(const KeysRotateRequest& v) {
  json j = json::object();
  if (v.all) j["all"] = true;
  if (!v.nodes.empty()) j["nodes"] = v.nodes;
  if (!v.reason.empty()) j["reason"] = v.reason;
  return Dump(j);
}

Result<KeysRotateRequest> ParseKeysRotateRequest(std::string_view text) {
  AdminFields f(text);
  KeysRotateRequest v;
  v.nodes = f.NodeRefs("nodes", kMaxRotateNodes).value_or(std::vector<std::string>{});
  v.all = f.Bool("all").value_or(false);
  v.reason = f.Text("reason").value_or("");
  return f.Finish(std::move(v));
}

}  // namespace tpmesh::proto
