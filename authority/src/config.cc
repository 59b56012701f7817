#include <toml++/toml.h>

#include <set>

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
                                             "node_cert_hours", "admission"};
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
  TPMESH_RETURN_IF_ERROR(boolean(t, "dev_mode", c.dev_mode));
  TPMESH_RETURN_IF_ERROR(integer("mtu", c.mtu, 1280, 9000));
  TPMESH_RETURN_IF_ERROR(integer("persistent_keepalive", c.persistent_keepalive, 0, 3600));
  TPMESH_RETURN_IF_ERROR(integer("node_cert_hours", c.node_cert_hours, 1, 24 * 30));
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
