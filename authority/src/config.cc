#include <set>

#include "tpmesh/authority/state.h"
#include "tpmesh/common/parse.h"
#include "tpmesh/proto/admin_fields.h"
#include "tpmesh/tomlcfg/reader.h"

namespace tpmesh::authority {
namespace {

using tomlcfg::ConfigError;
using tomlcfg::ConfigReader;

// The server's connection caps (net::ServerLimits).
Status ReadConnectionCaps(const ConfigReader& r, const toml::table& t, net::ServerLimits& l) {
  int total = static_cast<int>(l.max_connections), anon = static_cast<int>(l.max_anonymous),
      per_source = static_cast<int>(l.max_anonymous_per_source);
  TPMESH_RETURN_IF_ERROR(r.Integer(t, "max_connections", total, 16, 1'000'000));
  TPMESH_RETURN_IF_ERROR(r.Integer(t, "max_anonymous_connections", anon, 1, 1'000'000));
  TPMESH_RETURN_IF_ERROR(r.Integer(t, "max_anonymous_per_source", per_source, 1, 1'000'000));
  l.max_connections = static_cast<size_t>(total);
  l.max_anonymous = static_cast<size_t>(anon);
  l.max_anonymous_per_source = static_cast<size_t>(per_source);
  return OkStatus();
}

// The top-level scalar keys, in the order their errors are reported.
Status ReadTopLevel(const ConfigReader& r, const toml::table& t, AuthorityConfig& c) {
  TPMESH_RETURN_IF_ERROR(r.Str(t, "state_dir", c.state_dir));
  TPMESH_RETURN_IF_ERROR(r.Str(t, "ek_trust_dir", c.ek_trust_dir));
  TPMESH_RETURN_IF_ERROR(r.Str(t, "default_policy", c.default_policy));
  if (!c.default_policy.empty()) {
    if (Status st = proto::ValidatePolicyName(c.default_policy, "default_policy"); !st.ok()) {
      return r.Fail(st.error().message);
    }
  }
  TPMESH_RETURN_IF_ERROR(r.Boolean(t, "dev_mode", c.dev_mode));
  if (t.get("ek_chain_time")) {
    std::string name;
    TPMESH_RETURN_IF_ERROR(r.Str(t, "ek_chain_time", name));
    auto v = attest::ParseEkChainTime(name);
    if (!v.ok()) return r.Fail("ek_chain_time: " + v.error().message);
    c.ek_chain_time = *v;
  }
  TPMESH_RETURN_IF_ERROR(r.Integer(t, "mtu", c.mtu, 1280, 9000));
  TPMESH_RETURN_IF_ERROR(r.Integer(t, "persistent_keepalive", c.persistent_keepalive, 0, 3600));
  TPMESH_RETURN_IF_ERROR(r.Integer(t, "node_cert_hours", c.node_cert_hours, 1, 24 * 30));
  TPMESH_RETURN_IF_ERROR(r.Integer(t, "http_workers", c.http_workers, 1, 256));
  TPMESH_RETURN_IF_ERROR(ReadConnectionCaps(r, t, c.http_limits));
  c.node_cert_lifetime = std::chrono::hours(c.node_cert_hours);
  return r.Duration(t, "", "node_cert_lifetime", c.node_cert_lifetime, 60, 30LL * 86400);
}

// [rotation]
Status ReadRotation(const ConfigReader& r, const toml::node& n, AuthorityConfig& c) {
  static const std::set<std::string> kRotation = {"period",    "lead_time",        "overlap",
                                                  "jitter",    "confirm_deadline", "retry_after",
                                                  "scheduled", "live_window"};
  constexpr int64_t kTenYears = 10LL * 365 * 86400;
  auto* tab = n.as_table();
  if (!tab) return r.Fail("rotation must be a table");
  TPMESH_RETURN_IF_ERROR(r.KnownKeys(*tab, kRotation, "rotation."));
  auto& pol = c.rotation.policy;
  TPMESH_RETURN_IF_ERROR(r.Duration(*tab, "rotation.", "period", pol.period, 1, kTenYears));
  TPMESH_RETURN_IF_ERROR(r.Duration(*tab, "rotation.", "lead_time", pol.lead_time, 1, kTenYears));
  TPMESH_RETURN_IF_ERROR(r.Duration(*tab, "rotation.", "overlap", pol.overlap, 1, kTenYears));
  TPMESH_RETURN_IF_ERROR(r.Duration(*tab, "rotation.", "jitter", pol.jitter, 0, kTenYears));
  TPMESH_RETURN_IF_ERROR(
      r.Duration(*tab, "rotation.", "confirm_deadline", pol.confirm_deadline, 1, kTenYears));
  TPMESH_RETURN_IF_ERROR(
      r.Duration(*tab, "rotation.", "retry_after", pol.retry_after, 1, kTenYears));
  TPMESH_RETURN_IF_ERROR(
      r.Duration(*tab, "rotation.", "live_window", c.rotation.live_window, 1, 86400));
  TPMESH_RETURN_IF_ERROR(r.Boolean(*tab, "scheduled", c.rotation.scheduled));
  if (auto st = pol.Validate(); !st.ok()) return r.Fail("rotation: " + st.error().message);
  return OkStatus();
}

// listen = ["addr:port", ...]
Status ReadListen(const ConfigReader& r, const toml::node& n, AuthorityConfig& c) {
  auto* arr = n.as_array();
  if (!arr || arr->empty())
    return r.Fail("listen must be a non-empty array of \"addr:port\" strings");
  c.listen.clear();
  for (const auto& e : *arr) {
    auto v = e.value<std::string>();
    if (!v) return r.Fail("listen entries must be strings like \"[::]:8443\"");
    c.listen.push_back(*v);
  }
  return OkStatus();
}

// [admission]
Status ReadAdmission(const ConfigReader& r, const toml::node& n, AuthorityConfig& c) {
  static const std::set<std::string> kAdmission = {"allowlist", "tokens", "approval_queue"};
  auto* tab = n.as_table();
  if (!tab) return r.Fail("admission must be a table");
  TPMESH_RETURN_IF_ERROR(r.KnownKeys(*tab, kAdmission, "admission."));
  TPMESH_RETURN_IF_ERROR(r.Boolean(*tab, "allowlist", c.admission.allowlist));
  TPMESH_RETURN_IF_ERROR(r.Boolean(*tab, "tokens", c.admission.tokens));
  return r.Boolean(*tab, "approval_queue", c.admission.approval_queue);
}

}  // namespace

Result<AuthorityConfig> LoadConfig(const std::string& path) {
  TPMESH_ASSIGN_OR_RETURN(toml::table t, tomlcfg::ParseFile(path));
  static const std::set<std::string> kTop = {"state_dir",
                                             "listen",
                                             "ek_trust_dir",
                                             "dev_mode",
                                             "ek_chain_time",
                                             "default_policy",
                                             "mtu",
                                             "persistent_keepalive",
                                             "node_cert_hours",
                                             "node_cert_lifetime",
                                             "admission",
                                             "rotation",
                                             "http_workers",
                                             "max_connections",
                                             "max_anonymous_connections",
                                             "max_anonymous_per_source"};
  const ConfigReader r(path);
  TPMESH_RETURN_IF_ERROR(r.KnownKeys(t, kTop, ""));
  AuthorityConfig c;
  TPMESH_RETURN_IF_ERROR(ReadTopLevel(r, t, c));
  if (auto n = t.get("rotation")) TPMESH_RETURN_IF_ERROR(ReadRotation(r, *n, c));
  if (auto n = t.get("listen")) TPMESH_RETURN_IF_ERROR(ReadListen(r, *n, c));
  if (auto n = t.get("admission")) TPMESH_RETURN_IF_ERROR(ReadAdmission(r, *n, c));
  return c;
}

}  // namespace tpmesh::authority
