#include "tpmesh/proto/admin.h"

#include <nlohmann/json.hpp>

#include "json_util.h"
#include "tpmesh/json/reader.h"

namespace tpmesh::proto {
namespace {

using internal::Dump;
using internal::ParseWith;
using nlohmann::json;

template <typename T, typename Read>
std::vector<T> ReadList(JsonReader& r, const char* field, Read read) {
  return internal::ReadList<T>(r, field, kMaxAdminList, read);
}

json TokenJson(const TokenView& t) {
  json j{{"id", t.id},
         {"comment", t.comment},
         {"created_at", t.created_at},
         {"expires_at", t.expires_at},
         {"revoked", t.revoked},
         {"used_by", t.used_by}};
  if (t.used_at) j["used_at"] = *t.used_at;
  if (t.token) j["token"] = *t.token;
  return j;
}

TokenView ReadToken(JsonReader& r) {
  TokenView t;
  t.id = r.String("id", 64);
  t.comment = r.OptString("comment", 4096).value_or("");
  t.created_at = r.Int("created_at", 0, INT64_MAX);
  t.expires_at = r.Int("expires_at", 0, INT64_MAX);
  t.revoked = r.OptBool("revoked").value_or(false);
  t.used_by = r.OptString("used_by", 64).value_or("");
  t.used_at = r.OptInt("used_at", 0, INT64_MAX);
  t.token = r.OptString("token", 256);
  return t;
}

json EkEntryJson(const EkAllowlistEntry& e) {
  return json{{"ek_sha256", e.ek_sha256}, {"comment", e.comment}, {"created_at", e.created_at}};
}

EkAllowlistEntry ReadEkEntry(JsonReader& r) {
  EkAllowlistEntry e;
  e.ek_sha256 = r.String("ek_sha256", 64);
  e.comment = r.OptString("comment", 4096).value_or("");
  e.created_at = r.Int("created_at", 0, INT64_MAX);
  return e;
}

json PolicyJson(const PolicyView& p) {
  json golden = json::object();
  for (const auto& [pcr, values] : p.pcrs) golden[std::to_string(pcr)] = values;
  return json{{"name", p.name}, {"bank", p.bank}, {"pcrs", golden}, {"created_at", p.created_at}};
}

PolicyView ReadPolicy(JsonReader& r) {
  PolicyView p;
  p.name = r.String("name", 64);
  p.bank = r.String("bank", 16);
  p.created_at = r.Int("created_at", 0, INT64_MAX);
  const json* pcrs = r.Required("pcrs");
  if (!pcrs) return p;
  if (!pcrs->is_object() || pcrs->size() > 24) {
    r.Fail("pcrs", "must be an object of at most 24 PCRs");
    return p;
  }
  for (const auto& [key, values] : pcrs->items()) {
    const bool index =
        !key.empty() && key.size() <= 2 && key.find_first_not_of("0123456789") == std::string::npos;
    if (!index || std::stoul(key) > 23) {
      r.Fail("pcrs", "key '" + key.substr(0, 8) + "' is not a PCR index 0-23");
      return p;
    }
    std::vector<std::string> list;
    bool ok = values.is_array() && values.size() <= 64;
    for (size_t i = 0; ok && i < values.size(); ++i) {
      ok = values[i].is_string() && values[i].get_ref<const std::string&>().size() <= 128;
      if (ok) list.push_back(values[i].get<std::string>());
    }
    if (!ok) {
      r.Fail("pcrs." + key, "must be an array of at most 64 hex strings");
      return p;
    }
    p.pcrs[static_cast<uint32_t>(std::stoul(key))] = std::move(list);
  }
  return p;
}

json AuditJson(const AuditEntryView& a) {
  return json{{"id", a.id},         {"at", a.at},         {"actor", a.actor},  {"action", a.action},
              {"target", a.target}, {"reason", a.reason}, {"detail", a.detail}};
}

AuditEntryView ReadAudit(JsonReader& r) {
  AuditEntryView a;
  a.id = r.Int("id", 0, INT64_MAX);
  a.at = r.Int("at", 0, INT64_MAX);
  a.actor = r.String("actor", 256);
  a.action = r.String("action", 64);
  a.target = r.OptString("target", 4096).value_or("");
  a.reason = r.OptString("reason", 4096).value_or("");
  a.detail = r.OptString("detail", 65536).value_or("");
  return a;
}

json StatusJson(const StatusResponse& v) {
  json nodes = json::array();
  for (const auto& n : v.nodes) {
    json e{{"node_id", n.node_id}, {"hostname", n.hostname}, {"status", n.status}};
    if (n.applied_generation) e["applied_generation"] = *n.applied_generation;
    if (n.reported_at) e["reported_at"] = *n.reported_at;
    if (n.peers) {
      json peers = json::array();
      for (const auto& p : *n.peers) {
        peers.push_back(json{{"public_key", p.public_key},
                             {"hostname", p.hostname},
                             {"last_handshake", p.last_handshake},
                             {"rx_bytes", p.rx_bytes},
                             {"tx_bytes", p.tx_bytes}});
      }
      e["peers"] = std::move(peers);
    }
    nodes.push_back(std::move(e));
  }
  json pairs = json::array();
  for (const auto& p : v.unreachable) {
    pairs.push_back(json{{"a", p.a}, {"b", p.b}, {"reason", p.reason}});
  }
  return json{{"generation", v.generation},
              {"active", v.active},
              {"expired", v.expired},
              {"converged", v.converged},
              {"waiting", v.waiting},
              {"nodes", std::move(nodes)},
              {"unreachable_pairs", v.unreachable_pairs},
              {"unreachable", std::move(pairs)}};
}

StatusPair ReadStatusPair(JsonReader& r) {
  StatusPair p;
  p.a = r.String("a", 64);
  p.b = r.String("b", 64);
  p.reason = r.OptString("reason", 256).value_or("");
  return p;
}

StatusPeer ReadStatusPeer(JsonReader& r) {
  StatusPeer p;
  p.public_key = r.String("public_key", 64);
  p.hostname = r.OptString("hostname", 253).value_or("");
  p.last_handshake = r.OptInt("last_handshake", 0, INT64_MAX).value_or(0);
  p.rx_bytes = r.OptUint("rx_bytes").value_or(0);
  p.tx_bytes = r.OptUint("tx_bytes").value_or(0);
  return p;
}

StatusNode ReadStatusNode(JsonReader& r) {
  StatusNode n;
  n.node_id = r.String("node_id", 64);
  n.hostname = r.String("hostname", 253);
  n.status = r.OptString("status", 32).value_or("active");
  if (n.status != "active" && n.status != "expired") r.Fail("status", "must be active or expired");
  n.applied_generation = r.OptInt("applied_generation", -1, INT64_MAX);
  n.reported_at = r.OptInt("reported_at", 0, INT64_MAX);
  if (r.Raw("peers")) n.peers = ReadList<StatusPeer>(r, "peers", ReadStatusPeer);
  return n;
}

StatusResponse ReadStatus(JsonReader& r) {
  StatusResponse v;
  v.generation = r.Int("generation", 0, INT64_MAX);
  v.active = r.Int("active", 0, INT64_MAX);
  v.expired = r.OptInt("expired", 0, INT64_MAX).value_or(0);
  v.converged = r.Int("converged", 0, INT64_MAX);
  v.waiting = r.Int("waiting", 0, INT64_MAX);
  v.nodes = ReadList<StatusNode>(r, "nodes", ReadStatusNode);
  v.unreachable_pairs = r.OptInt("unreachable_pairs", 0, INT64_MAX).value_or(0);
  if (r.Raw("unreachable")) v.unreachable = ReadList<StatusPair>(r, "unreachable", ReadStatusPair);
  return v;
}

}  // namespace

std::string ToJson(const StatusResponse& v) { return Dump(StatusJson(v)); }
Result<StatusResponse> ParseStatusResponse(std::string_view text) {
  return ParseWith<StatusResponse>(text, ReadStatus);
}

std::string ToJson(const TokenView& v) { return Dump(TokenJson(v)); }

std::string ToJson(const TokenListResponse& v) {
  json arr = json::array();
  for (const auto& t : v.tokens) arr.push_back(TokenJson(t));
  return Dump(json{{"tokens", arr}});
}

std::string ToJson(const EkAllowlistResponse& v) {
  json arr = json::array();
  for (const auto& e : v.ek_allowlist) arr.push_back(EkEntryJson(e));
  return Dump(json{{"ek_allowlist", arr}});
}

std::string ToJson(const EkAllowResponse& v) { return Dump(json{{"ek_sha256", v.ek_sha256}}); }
std::string ToJson(const RemovedResponse& v) { return Dump(json{{"removed", v.removed}}); }
std::string ToJson(const PolicyView& v) { return Dump(PolicyJson(v)); }

std::string ToJson(const PolicyListResponse& v) {
  json arr = json::array();
  for (const auto& p : v.policies) arr.push_back(PolicyJson(p));
  return Dump(json{{"policies", arr}});
}

std::string ToJson(const AuditListResponse& v) {
  json arr = json::array();
  for (const auto& a : v.audit) arr.push_back(AuditJson(a));
  return Dump(json{{"audit", arr}});
}

Result<TokenView> ParseTokenView(std::string_view text) {
  return ParseWith<TokenView>(text, ReadToken);
}

Result<TokenListResponse> ParseTokenListResponse(std::string_view text) {
  return ParseWith<TokenListResponse>(text, [](JsonReader& r) {
    return TokenListResponse{ReadList<TokenView>(r, "tokens", ReadToken)};
  });
}

Result<EkAllowlistResponse> ParseEkAllowlistResponse(std::string_view text) {
  return ParseWith<EkAllowlistResponse>(text, [](JsonReader& r) {
    return EkAllowlistResponse{ReadList<EkAllowlistEntry>(r, "ek_allowlist", ReadEkEntry)};
  });
}

Result<EkAllowResponse> ParseEkAllowResponse(std::string_view text) {
  return ParseWith<EkAllowResponse>(
      text, [](JsonReader& r) { return EkAllowResponse{r.String("ek_sha256", 64)}; });
}

Result<RemovedResponse> ParseRemovedResponse(std::string_view text) {
  return ParseWith<RemovedResponse>(
      text, [](JsonReader& r) { return RemovedResponse{r.String("removed", 256)}; });
}

Result<PolicyView> ParsePolicyView(std::string_view text) {
  return ParseWith<PolicyView>(text, ReadPolicy);
}

Result<PolicyListResponse> ParsePolicyListResponse(std::string_view text) {
  return ParseWith<PolicyListResponse>(text, [](JsonReader& r) {
    return PolicyListResponse{ReadList<PolicyView>(r, "policies", ReadPolicy)};
  });
}

Result<AuditListResponse> ParseAuditListResponse(std::string_view text) {
  return ParseWith<AuditListResponse>(text, [](JsonReader& r) {
    return AuditListResponse{ReadList<AuditEntryView>(r, "audit", ReadAudit)};
  });
}

}  // namespace tpmesh::proto
