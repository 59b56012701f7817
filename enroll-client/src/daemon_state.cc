// The daemon's state files (daemon_impl.h): the trusted config-signing keys
// (signing-keys.json), the last verified config (mesh.json) and the
// authority's CA bundle (ca.crt).
#include <nlohmann/json.hpp>

#include "daemon_impl.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::client::internal {

using nlohmann::json;

// The config-signing keys we trust: signing-keys.json once the authority
// announced a set (signing-key rotation), else the key pinned at enrollment.
void Daemon::LoadTrust() {
  trusted_ = {f_->enrolled.config_signing_key};
  auto raw = pki::ReadFile(o_.state_dir + "/signing-keys.json");
  if (!raw.ok()) return;
  json j = json::parse(*raw, nullptr, false);
  std::vector<Bytes> keys;
  if (j.is_array()) {
    for (const auto& k : j) {
      auto b = k.is_string() ? Base64Decode(k.get<std::string>(), "signing-keys.json")
                             : Result<Bytes>(Error{});
      if (b.ok() && b->size() == 32) keys.push_back(std::move(*b));
    }
  }
  if (keys.empty() || !meshcfg::ValidateSigningKeys(keys).ok()) {
    Log("ignoring " + o_.state_dir + "/signing-keys.json: not a list of config-signing keys");
    return;
  }
  trusted_ = std::move(keys);
}

// A verified state that announces signing keys replaces the trusted set
// (the announcement was signed by a key we trusted).
void Daemon::UpdateTrust(const meshcfg::MeshState& state) {
  if (state.signing_keys.empty() || state.signing_keys == trusted_) return;
  json arr = json::array();
  for (const auto& k : state.signing_keys) arr.push_back(Base64Encode(k));
  if (auto st = pki::WritePrivateFile(o_.state_dir + "/signing-keys.json", arr.dump() + "\n");
      !st.ok()) {
    Log("could not save the config-signing keys: " + st.error().ToString());
    return;  // keep the old set: the next announcement retries
  }
  trusted_ = state.signing_keys;
  std::string list;
  for (const auto& k : trusted_) list += (list.empty() ? "" : ", ") + Base64Encode(k);
  Log("config-signing keys now trusted: " + list);
}

void Daemon::LoadSaved() {
  auto raw = pki::ReadFile(o_.state_dir + "/mesh.json");
  if (!raw.ok()) return;
  auto s = meshcfg::ParseSignedState(*raw);
  if (!s.ok()) {
    Log("ignoring saved config: " + s.error().ToString());
    return;
  }
  auto state = meshcfg::VerifySignedState(*s, -1, trusted_);
  if (!state.ok()) {
    Log("ignoring saved config: " + state.error().ToString());
    return;
  }
  if (auto st = Apply(*s); st.ok()) {
    Log("applied saved generation " + std::to_string(held_.state.generation) +
        " before contacting the authority");
  } else {
    Log("could not apply saved config: " + st.error().ToString());
  }
}

// The authority's CA bundle changed (CA rotation): trust the new one for
// every later connection. It came over a connection verified with the
// bundle we held.
void Daemon::UpdateCaBundle(const std::string& bundle) {
  auto fps = pki::BundleFingerprints(bundle);
  if (!fps.ok() || fps->empty() || bundle.size() > 64 * 1024) {
    Log("ignoring a CA bundle from the authority that holds no certificate");
    return;
  }
  if (auto st = pki::WritePrivateFile(o_.state_dir + "/ca.crt", bundle); !st.ok()) {
    Log("could not save the new CA bundle: " + st.error().ToString());
    return;
  }
  f_->ca = bundle;
  Log("authority CA bundle updated: " + std::to_string(fps->size()) + " certificate(s)");
}

}  // namespace tpmesh::client::internal
