#include <toml++/toml.h>

#include <set>

#include "admin_input.h"
#include "tpmesh/authority/state.h"

namespace tpmesh::authority {
namespace {

Error ConfigError(const std::string& path, const std::string& what) {
  return MakeError(Code::kInvalidArgument, "invalid_config", path + ": " + what);
}

}  // namespace

Result<AuthorityConfig> LoadConfig(const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return ConfigError(path, "line " + std::to_string(where.line) + ", column " +
                                 std::to_string(where.column) + ": " + std::string(e.description()));
  }
  AuthorityConfig c;
  static const std::set<std::string> kTop = {"state_dir", "listen", "ek_trust_dir", "dev_mode",
                                             "default_policy", "mtu", "persistent_keepalive",
                                             "node_cert_hours", "node_cert_lifetime", "admission",
                                             "rotation", "http_workers"};
  static const std::set<std::string> kRotation = {"period", "lead_time", "overlap", "jitter",
                                                  "confirm_deadline", "retry_after", "scheduled",
                                                  "live_window"};
  static const std::set<std::string> kAdmission = {"allowlist", "tokens", "approval_queue"};
  for (const auto& [k, v] : t) {
    if (!kTop.count(std::string(k.str()))) return ConfigError(path, "unknown key '" + std::string(k.str()) + "'");
  }
  auto str = [&](const char* key, std::string& out) -> Status {
    if (auto n = t.get(key)) {
      auto v = n->value<std::string>();
      if (!v) return ConfigError(path, std::string(key) + " must be a string");
      out = *v;
    }
    return OkStatus();
  };
  auto integer = [&](const char* key, int& out, int lo, int hi) -> Status {
    if (auto n = t.get(key)) {
      auto v = n->value<int64_t>();
      if (!v || *v < lo || *v > hi) {
        return ConfigError(path, std::string(key) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
      }
      out = static_cast<int>(*v);
    }
    return OkStatus();
  };
  auto boolean = [&](const toml::table& tab, const char* key, bool& out) -> Status {
    if (auto n = tab.get(key)) {
      auto v = n->value<bool>();
      if (!v) return ConfigError(path, std::string(key) + " must be true or false");
      out = *v;
    }
    return OkStatus();
  };
  TPMESH_RETURN_IF_ERROR(str("state_dir", c.state_dir));
  TPMESH_RETURN_IF_ERROR(str("ek_trust_dir", c.ek_trust_dir));
  TPMESH_RETURN_IF_ERROR(str("default_policy", c.default_policy));
  if (!c.default_policy.empty()) {
    if (Status st = ValidatePolicyName(c.default_policy, "default_policy"); !st.ok()) {
      return ConfigError(path, st.error().message);
    }
  }
  TPMESH_RETURN_IF_ERROR(boolean(t, "dev_mode", c.dev_mode));
  TPMESH_RETURN_IF_ERROR(integer("mtu", c.mtu, 1280, 9000));
  TPMESH_RETURN_IF_ERROR(integer("persistent_keepalive", c.persistent_keepalive, 0, 3600));
  TPMESH_RETURN_IF_ERROR(integer("node_cert_hours", c.node_cert_hours, 1, 24 * 30));
  TPMESH_RETURN_IF_ERROR(integer("http_workers", c.http_workers, 16, 65536));
  c.node_cert_lifetime = std::chrono::hours(c.node_cert_hours);
  // A duration: "90s", "15m", "1h", "7d", or an integer number of seconds.
  auto duration = [&](const toml::table& tab, const std::string& prefix, const char* key,
                      std::chrono::seconds& out, int64_t lo, int64_t hi) -> Status {
    auto n = tab.get(key);
    if (!n) return OkStatus();
    const std::string name = prefix + key;
    auto bad = [&] {
      return ConfigError(path, name + " must be a duration like \"90s\", \"15m\", \"1h\" or \"7d\" between " +
                                   std::to_string(lo) + " and " + std::to_string(hi) + " seconds");
    };
    int64_t secs = 0;
    if (auto i = n->value<int64_t>(); i && n->is_integer()) {
      secs = *i;
    } else if (auto text = n->value<std::string>()) {
      const std::string& v = *text;
      size_t digits = 0;
      while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
      if (digits == 0 || digits > 12 || v.size() - digits > 1) return bad();
      secs = std::stoll(v.substr(0, digits));
      const char unit = digits < v.size() ? v[digits] : 's';
      switch (unit) {
        case 's': break;
        case 'm': secs *= 60; break;
        case 'h': secs *= 3600; break;
        case 'd': secs *= 86400; break;
        default: return bad();
      }
    } else {
      return bad();
    }
    if (secs < lo || secs > hi) return bad();
    out = std::chrono::seconds(secs);
    return OkStatus();
  };
  constexpr int64_t kTenYears = 10LL * 365 * 86400;
  TPMESH_RETURN_IF_ERROR(duration(t, "", "node_cert_lifetime", c.node_cert_lifetime, 60, 30LL * 86400));
  if (auto n = t.get("rotation")) {
    auto* tab = n->as_table();
    if (!tab) return ConfigError(path, "rotation must be a table");
    for (const auto& [k, v] : *tab) {
      if (!kRotation.count(std::string(k.str()))) return ConfigError(path, "unknown key 'rotation." + std::string(k.str()) + "'");
    }
    auto& pol = c.rotation.policy;
    TPMESH_RETURN_IF_ERROR(duration(*tab, "rotation.", "period", pol.period, 1, kTenYears));
    TPMESH_RETURN_IF_ERROR(duration(*tab, "rotation.", "lead_time", pol.lead_time, 1, kTenYears));
    TPMESH_RETURN_IF_ERROR(duration(*tab, "rotation.", "overlap", pol.overlap, 1, kTenYears));
    TPMESH_RETURN_IF_ERROR(duration(*tab, "rotation.", "jitter", pol.jitter, 0, kTenYears));
    TPMESH_RETURN_IF_ERROR(duration(*tab, "rotation.", "confirm_deadline", pol.confirm_deadline, 1, kTenYears));
    TPMESH_RETURN_IF_ERROR(duration(*tab, "rotation.", "retry_after", pol.retry_after, 1, kTenYears));
    TPMESH_RETURN_IF_ERROR(duration(*tab, "rotation.", "live_window", c.rotation.live_window, 1, 86400));
    TPMESH_RETURN_IF_ERROR(boolean(*tab, "scheduled", c.rotation.scheduled));
    if (auto st = pol.Validate(); !st.ok()) return ConfigError(path, "rotation: " + st.error().message);
  }
  if (auto n = t.get("listen")) {
    auto* arr = n->as_array();
    if (!arr || arr->empty()) return ConfigError(path, "listen must be a non-empty array of \"addr:port\" strings");
    c.listen.clear();
    for (const auto& e : *arr) {
      auto v = e.value<std::string>();
      if (!v) return ConfigError(path, "listen entries must be strings like \"[::]:8443\"");
      c.listen.push_back(*v);
    }
  }
  if (auto n = t.get("admission")) {
    auto* tab = n->as_table();
    if (!tab) return ConfigError(path, "admission must be a table");
    for (const auto& [k, v] : *tab) {
      if (!kAdmission.count(std::string(k.str()))) return ConfigError(path, "unknown key 'admission." + std::string(k.str()) + "'");
    }
    TPMESH_RETURN_IF_ERROR(boolean(*tab, "allowlist", c.admission.allowlist));
    TPMESH_RETURN_IF_ERROR(boolean(*tab, "tokens", c.admission.tokens));
    TPMESH_RETURN_IF_ERROR(boolean(*tab, "approval_queue", c.admission.approval_queue));
  }
  return c;
}

}  // namespace tpmesh::authority
