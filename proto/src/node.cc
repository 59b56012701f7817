#include "tpmesh/proto/node.h"

#include <nlohmann/json.hpp>

#include <algorithm>

#include "json_util.h"
#include "tpmesh/json/reader.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::proto {
namespace {

using internal::Dump;
using nlohmann::json;

constexpr size_t kKeyBytes = 32;
constexpr size_t kMaxCaBundle = 65536;

// The member `field` of `r` (an object) handed to a meshcfg parser, its
// problems named under `field`.
template <typename T, typename Parse>
std::optional<T> Part(JsonReader& r, const char* field, Parse parse) {
  const json* v = r.Raw(field);
  if (!v) return std::nullopt;
  if (!v->is_object()) {
    r.Fail(field, "must be an object");
    return std::nullopt;
  }
  auto parsed = parse(Dump(*v));
  if (!parsed.ok()) {
    r.Fail(field, parsed.error().message);
    return std::nullopt;
  }
  return std::move(*parsed);
}

bool IsLowerHex(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

std::string OkJson() { return R"({"ok":true})"; }

std::string ToJson(const CaBundleResponse& v) { return Dump(json{{"ca_bundle", v.ca_bundle_pem}}); }

Result<CaBundleResponse> ParseCaBundleResponse(std::string_view text) {
  JsonReader r(text);
  CaBundleResponse v{r.String("ca_bundle", kMaxCaBundle)};
  if (!r.ok()) return r.error();
  return v;
}

// Printed by hand around meshcfg's own canonical JSON, so the bytes the
// authority caches and sends are exactly meshcfg::ToJson's.
std::string ConfigEnvelopeJson(int64_t generation, const meshcfg::SignedState& full) {
  return "{\"generation\":" + std::to_string(generation) + ",\"full\":" + meshcfg::ToJson(full) +
         "}";
}

std::string ConfigEnvelopeJson(int64_t generation, const meshcfg::MeshDelta& delta) {
  return "{\"generation\":" + std::to_string(generation) + ",\"delta\":" + meshcfg::ToJson(delta) +
         "}";
}

std::string ToJson(const ConfigEnvelope& v) {
  if (v.full) return ConfigEnvelopeJson(v.generation, *v.full);
  if (v.delta) return ConfigEnvelopeJson(v.generation, *v.delta);
  return "{\"generation\":" + std::to_string(v.generation) + "}";
}

Result<ConfigEnvelope> ParseConfigEnvelope(std::string_view text) {
  JsonReader r(text);  // JsonReader::kDefaultMaxBytes (32 MiB) bounds a whole mesh config
  ConfigEnvelope v;
  v.generation = r.Int("generation", 0, INT64_MAX);
  v.full = Part<meshcfg::SignedState>(
      r, "full", [](const std::string& s) { return meshcfg::ParseSignedState(s); });
  v.delta = Part<meshcfg::MeshDelta>(
      r, "delta", [](const std::string& s) { return meshcfg::ParseMeshDelta(s); });
  if (r.ok() && v.full.has_value() == v.delta.has_value())
    r.Fail("", "needs exactly one of 'full' and 'delta'");
  if (!r.ok()) return r.error();
  return v;
}

std::string ToJson(const AckRequest& v) {
  json peers = json::array();
  for (const auto& p : v.peers) {
    peers.push_back(json{{"public_key", Base64Encode(p.public_key)},
                         {"last_handshake", p.last_handshake},
                         {"rx_bytes", p.rx_bytes},
                         {"tx_bytes", p.tx_bytes}});
  }
  json j{{"generation", v.generation}, {"peers", std::move(peers)}};
  if (v.ca_bundle_sha256) j["ca_bundle_sha256"] = *v.ca_bundle_sha256;
  if (v.endpoints) j["endpoints"] = *v.endpoints;
  return Dump(j);
}

Result<AckRequest> ParseAckRequest(std::string_view text) {
  JsonReader r(text);
  AckRequest v;
  v.generation = r.Int("generation", -1, INT64_MAX);
  v.ca_bundle_sha256 = r.OptString("ca_bundle_sha256", 64);
  if (v.ca_bundle_sha256 &&
      (v.ca_bundle_sha256->size() != 64 || !IsLowerHex(*v.ca_bundle_sha256))) {
    r.Fail("ca_bundle_sha256", "must be 64 lower-case hex digits");
  }
  if (r.Raw("peers")) {
    const json* peers = r.Array("peers", kMaxAckPeers);
    for (size_t i = 0; peers && i < peers->size() && r.ok(); ++i) {
      JsonReader p = r.Item((*peers)[i], "peers[" + std::to_string(i) + "]");
      PeerStatus s;
      s.public_key = p.B64Exact("public_key", kKeyBytes);
      s.last_handshake = p.OptInt("last_handshake", 0, INT64_MAX).value_or(0);
      s.rx_bytes = p.OptUint("rx_bytes").value_or(0);
      s.tx_bytes = p.OptUint("tx_bytes").value_or(0);
      v.peers.push_back(std::move(s));
    }
  }
  if (r.Raw("endpoints")) v.endpoints = r.StringList("endpoints", 8, 64);
  if (!r.ok()) return r.error();
  if (v.endpoints) {
    for (const auto& e : *v.endpoints) TPMESH_RETURN_IF_ERROR(ValidateEndpoint(e));
  }
  return v;
}

std::string ToJson(const AckResponse& v) {
  json j{{"ok", true}};
  if (v.rotation == AckResponse::Rotation::kPrepare) {
    j["rotation"] = json{{"action", "prepare"}};
  } else if (v.rotation == AckResponse::Rotation::kSwitch) {
    j["rotation"] =
        json{{"action", "switch"}, {"next_public_key", Base64Encode(v.next_public_key)}};
  }
  if (v.ca_bundle) j["ca_bundle"] = *v.ca_bundle;
  return Dump(j);
}

Result<AckResponse> ParseAckResponse(std::string_view text) {
  JsonReader r(text);
  AckResponse v;
  v.ca_bundle = r.OptString("ca_bundle", kMaxCaBundle);
  if (r.Raw("rotation")) {
    JsonReader rot = r.Object("rotation");
    const std::string action = rot.String("action", 16);
    if (rot.ok() && action == "prepare") {
      v.rotation = AckResponse::Rotation::kPrepare;
    } else if (rot.ok() && action == "switch") {
      v.rotation = AckResponse::Rotation::kSwitch;
      v.next_public_key = rot.B64Exact("next_public_key", kKeyBytes);
    } else if (rot.ok()) {
      rot.Fail("action", "must be \"prepare\" or \"switch\"");
    }
  }
  if (!r.ok()) return r.error();
  return v;
}

std::string ToJson(const RotatePrepareRequest& v) {
  return Dump(json{{"next_public_key", Base64Encode(v.next_public_key)}});
}

Result<RotatePrepareRequest> ParseRotatePrepareRequest(std::string_view text) {
  JsonReader r(text);
  RotatePrepareRequest v{r.B64Exact("next_public_key", kKeyBytes)};
  if (!r.ok()) return r.error();
  return v;
}

std::string ToJson(const RotatePrepareResponse& v) {
  return Dump(json{{"announce_generation", v.announce_generation}});
}

Result<RotatePrepareResponse> ParseRotatePrepareResponse(std::string_view text) {
  JsonReader r(text);
  RotatePrepareResponse v{r.Int("announce_generation", 0, INT64_MAX)};
  if (!r.ok()) return r.error();
  return v;
}

std::string ToJson(const RotateSwitchedRequest& v) {
  return Dump(json{{"public_key", Base64Encode(v.public_key)}});
}

Result<RotateSwitchedRequest> ParseRotateSwitchedRequest(std::string_view text) {
  JsonReader r(text);
  RotateSwitchedRequest v{r.B64Exact("public_key", kKeyBytes)};
  if (!r.ok()) return r.error();
  return v;
}

namespace {

json ViewJson(const NodeView& v) {
  json pcrs = json::object();
  for (const auto& [pcr, hex] : v.pcrs) pcrs[std::to_string(pcr)] = hex;
  json j{{"node_id", v.node_id},
         {"hostname", v.hostname},
         {"status", v.status},
         {"status_reason", v.status_reason},
         {"ek_sha256", v.ek_sha256},
         {"wg_public_key", Base64Encode(v.wg_public_key)},
         {"endpoints", v.endpoints},
         {"pcr_policy", v.pcr_policy},
         {"pcrs", std::move(pcrs)},
         {"enrolled_at", v.enrolled_at},
         {"updated_at", v.updated_at},
         {"last_seen", v.last_seen},
         {"enroll_count", v.enroll_count}};
  if (v.cert_not_after) j["cert_not_after"] = *v.cert_not_after;
  if (v.overlay_prefix) j["overlay_prefix"] = *v.overlay_prefix;
  if (v.overlay_address) j["overlay_address"] = *v.overlay_address;
  return j;
}

NodeView ReadView(JsonReader& r) {
  NodeView v;
  v.node_id = r.String("node_id", 64);
  v.hostname = r.String("hostname", 253);
  v.status = r.String("status", 32);
  v.status_reason = r.OptString("status_reason", 4096).value_or("");
  v.ek_sha256 = r.String("ek_sha256", 64);
  v.wg_public_key = r.B64("wg_public_key", kKeyBytes);
  v.endpoints = r.StringList("endpoints", 16, 64);
  v.pcr_policy = r.OptString("pcr_policy", 128).value_or("");
  if (const json* pcrs = r.Raw("pcrs"); pcrs && (!pcrs->is_object() || pcrs->size() > 24)) {
    r.Fail("pcrs", "must be an object of at most 24 PCRs");
  } else if (pcrs) {
    for (const auto& [key, value] : pcrs->items()) {
      const bool index = !key.empty() && key.size() <= 2 &&
                         key.find_first_not_of("0123456789") == std::string::npos;
      if (!index || std::stoul(key) > 23 || !value.is_string() ||
          value.get_ref<const std::string&>().size() > 128) {
        r.Fail("pcrs", "entries must be \"<0-23>\": \"<hex>\"");
        break;
      }
      v.pcrs.emplace_back(static_cast<uint32_t>(std::stoul(key)), value.get<std::string>());
    }
    std::sort(v.pcrs.begin(), v.pcrs.end());
  }
  v.enrolled_at = r.Int("enrolled_at", 0, INT64_MAX);
  v.updated_at = r.Int("updated_at", 0, INT64_MAX);
  v.last_seen = r.Int("last_seen", 0, INT64_MAX);
  v.enroll_count = r.Int("enroll_count", 0, INT64_MAX);
  v.cert_not_after = r.OptInt("cert_not_after", 0, INT64_MAX);
  v.overlay_prefix = r.OptString("overlay_prefix", 64);
  v.overlay_address = r.OptString("overlay_address", 64);
  return v;
}

}  // namespace

std::string ToJson(const NodeView& v) { return Dump(ViewJson(v)); }

Result<NodeView> ParseNodeView(std::string_view text) {
  JsonReader r(text);
  NodeView v = ReadView(r);
  if (!r.ok()) return r.error();
  return v;
}

std::string ToJson(const NodeListResponse& v) {
  json nodes = json::array();
  for (const auto& n : v.nodes) nodes.push_back(ViewJson(n));
  return Dump(json{
      {"generation", v.generation}, {"mesh_prefix", v.mesh_prefix}, {"nodes", std::move(nodes)}});
}

Result<NodeListResponse> ParseNodeListResponse(std::string_view text) {
  JsonReader r(text);
  NodeListResponse v;
  v.generation = r.Int("generation", 0, INT64_MAX);
  v.mesh_prefix = r.String("mesh_prefix", 64);
  const json* nodes = r.Array("nodes", kMaxNodeList);
  for (size_t i = 0; nodes && i < nodes->size() && r.ok(); ++i) {
    JsonReader item = r.Item((*nodes)[i], "nodes[" + std::to_string(i) + "]");
    v.nodes.push_back(ReadView(item));
  }
  if (!r.ok()) return r.error();
  return v;
}

}  // namespace tpmesh::proto
