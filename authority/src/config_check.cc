// `tpmesh-authority config check` (config_check.h).
#include "tpmesh/authority/config_check.h"

#include <openssl/x509.h>

#include "store_util.h"
#include "tpmesh/attest/verifier.h"
#include "tpmesh/authority/ca_keys.h"
#include "tpmesh/authority/signing_keys.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/ossl/ossl.h"
#include "tpmesh/ossl/pem.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::authority {
namespace {

using Level = ConfigFinding::Level;
constexpr int64_t kDay = 86400;

std::string Days(int64_t seconds) {
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 7200) return std::to_string(seconds / 60) + " min";
  if (seconds < 2 * kDay) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds / kDay) + " days";
}

// A certificate's end against `now` and the node certificate lifetime.
ConfigFinding CertExpiry(const std::string& what, std::string_view pem, int64_t now,
                         int64_t node_cert_lifetime) {
  auto cert = ossl::ReadCertPem(pem, what, "invalid_cert");
  if (!cert.ok()) return {Level::kFail, what, cert.error().message};
  auto end = ossl::FromAsn1Time(X509_get0_notAfter(cert->get()));
  if (!end.ok()) return {Level::kFail, what, "unreadable notAfter"};
  const int64_t left = ToUnixSeconds(*end) - now;
  if (left <= 0) return {Level::kFail, what, "expired " + Days(-left) + " ago"};
  const std::string detail = "valid for " + Days(left) + " more";
  if (left < 30 * kDay || left < node_cert_lifetime) {
    return {Level::kWarn, what, detail + ": renew it before it ends"};
  }
  return {Level::kOk, what, detail};
}

void CheckState(const AuthorityConfig& cfg, int64_t now, std::vector<ConfigFinding>& out) {
  const char* kWhat = "state directory";
  auto state = LoadState(cfg.state_dir);
  if (!state.ok() && state.error().reason == "state_dir_in_use") {
    out.push_back({Level::kOk, kWhat,
                   cfg.state_dir + " is in use by a running authority (not opened here; it "
                                   "passed these checks when that authority started)"});
    return;
  }
  if (!state.ok()) {
    out.push_back({Level::kFail, kWhat, state.error().ToString()});
    return;
  }
  out.push_back({Level::kOk, kWhat,
                 cfg.state_dir + ": mesh " + state->mesh_prefix.ToString() + ", " +
                     std::to_string(state->cas->Info().size()) + " CA(s)"});
  if (cfg.default_policy.empty()) {
    out.push_back({Level::kOk, "default policy", "none: new nodes are held to no PCR values"});
  } else if (auto p = internal::InTx(*state->store,
                                     [&](Tx& tx) { return tx.GetPolicy(cfg.default_policy); });
             !p.ok()) {
    out.push_back({Level::kFail, "default policy", p.error().ToString()});
  } else if (!*p) {
    out.push_back({Level::kFail, "default policy",
                   "default_policy '" + cfg.default_policy +
                       "' is not in the store: every enrollment would fail with policy_missing "
                       "('tpmeshctl policy list', 'tpmeshctl policy set')"});
  } else {
    out.push_back({Level::kOk, "default policy", "'" + cfg.default_policy + "' exists"});
  }
  const int64_t life = cfg.node_cert_lifetime.count();
  out.push_back(CertExpiry("CA certificate", state->cas->Current()->cert_pem(), now, life));
  out.push_back(CertExpiry("server certificate", state->cas->Tls().cert_pem, now, life));
  if (auto admin = pki::ReadFile(cfg.state_dir + "/admin.crt"); admin.ok()) {
    out.push_back(CertExpiry("admin certificate (admin.crt)", *admin, now, life));
  }
}

void CheckLifetimes(const AuthorityConfig& cfg, std::vector<ConfigFinding>& out) {
  const int64_t life = cfg.node_cert_lifetime.count();
  const auto& r = cfg.rotation;
  if (r.scheduled && r.policy.period.count() < life) {
    out.push_back({Level::kWarn, "lifetimes",
                   "rotation.period (" + Days(r.policy.period.count()) +
                       ") is shorter than node_cert_lifetime (" + Days(life) +
                       "): WireGuard keys rotate more often than certificates renew"});
    return;
  }
  out.push_back({Level::kOk, "lifetimes",
                 "node certificates live " + Days(life) + " (renewed at half life; a node off " +
                     "longer enrolls again with its TPM); WireGuard keys rotate every " +
                     Days(r.policy.period.count()) + (r.scheduled ? "" : " (on request only)")});
}

}  // namespace

std::vector<ConfigFinding> CheckConfig(const AuthorityConfig& cfg, int64_t now) {
  std::vector<ConfigFinding> out;
  CheckState(cfg, now, out);
  auto trust = attest::TrustStore::LoadDirectory(cfg.ek_trust_dir);
  if (!trust.ok()) {
    out.push_back({Level::kFail, "EK trust directory", trust.error().ToString()});
  } else if (trust->root_count() == 0) {
    out.push_back({Level::kWarn, "EK trust directory",
                   cfg.ek_trust_dir + " holds no root: only the EK allowlist can admit a TPM"});
  } else {
    out.push_back({Level::kOk, "EK trust directory",
                   cfg.ek_trust_dir + ": " + std::to_string(trust->root_count()) + " root(s)" +
                       (cfg.dev_mode ? "; DEV MODE: software TPMs accepted" : "")});
  }
  CheckLifetimes(cfg, out);
  if (auto st = CheckWorkerThreads(ReadHostLimits(), cfg.http_workers); !st.ok()) {
    out.push_back({Level::kFail, "http workers", st.error().ToString()});
  } else {
    out.push_back({Level::kOk, "http workers", std::to_string(cfg.http_workers) + " fit"});
  }
  return out;
}

}  // namespace tpmesh::authority
