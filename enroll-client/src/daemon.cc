#include "tpmesh/client/daemon.h"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tpmesh/client/ack_answer.h"
#include "config_response.h"
#include "tpmesh/client/keyfiles.h"
#include "tpmesh/client/node_state.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/keyrotate/rotation.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::client {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

class Daemon {
 public:
  Daemon(const DaemonOptions& o, LinkConfigurator& link, StopSignal& stop,
         const LogFn& log, std::unique_ptr<NodeFiles> files)
      : o_(o), link_(link), stop_(stop), log_(log), f_(std::move(files)) {
    LoadTrust();
    auto pub = WgPublicFromPrivate(f_->wg_private.view());
    if (pub.ok()) wg_public_ = std::move(pub).value();
  }

  Status Run() {
    TPMESH_RETURN_IF_ERROR(SetUpLink());
    LoadSaved();  // fail-static: the last verified config, before any network
    int backoff = 1;
    size_t url_index = 0;
    while (!stop_.stopped()) {
      MaybeRenew(f_->authority_urls[url_index]);
      Status st = PollOnce(f_->authority_urls[url_index]);
      if (st.ok()) {
        backoff = 1;
        continue;
      }
      if (st.error().reason == "node_revoked") {
        Log("revoked by the authority: " + st.error().message + "; removing " + o_.ifname);
        (void)link_.TearDown(o_.ifname);
        std::error_code ec;
        fs::remove(o_.state_dir + "/mesh.json", ec);
        return st;
      }
      if (IsCertRefusal(st.error()) && ReloadIdentity(st.error())) {
        backoff = 1;  // a new identity: reconnect at once
        url_index = 0;
        continue;
      }
      Log("authority " + f_->authority_urls[url_index] + ": " + st.error().ToString() +
          "; the mesh keeps its last config; retrying in ~" + std::to_string(backoff) + " s");
      url_index = (url_index + 1) % f_->authority_urls.size();
      SleepJittered(backoff);
      backoff = std::min(backoff * 2, o_.max_backoff_seconds);
    }
    return OkStatus();
  }

 private:
  void Log(const std::string& s) {
    if (log_) log_(s);
  }

  void SleepJittered(int seconds) {
    uint32_t r = randombytes_uniform(1000);
    auto total = std::chrono::milliseconds(seconds * 500 + seconds * static_cast<int>(r) / 2 + 100);
    auto end = std::chrono::steady_clock::now() + total;
    while (!stop_.stopped() && std::chrono::steady_clock::now() < end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }

  Status SetUpLink() {
    TPMESH_RETURN_IF_ERROR(link_.Ensure(o_.ifname));
    TPMESH_RETURN_IF_ERROR(link_.Configure(o_.ifname, f_->enrolled.overlay_address,
                                           f_->enrolled.mesh_prefix, f_->enrolled.mtu));
    TPMESH_ASSIGN_OR_RETURN(device_, wg::OpenUapiDevice(o_.ifname, o_.uapi_dir));
    return OkStatus();
  }

  // The config-signing keys we trust: signing-keys.json once the authority
  // announced a set (signing-key rotation), else the key pinned at enrollment.
  void LoadTrust() {
    trusted_ = {f_->enrolled.config_signing_key};
    auto raw = pki::ReadFile(o_.state_dir + "/signing-keys.json");
    if (!raw.ok()) return;
    json j = json::parse(*raw, nullptr, false);
    std::vector<Bytes> keys;
    if (j.is_array()) {
      for (const auto& k : j) {
        auto b = k.is_string() ? Base64Decode(k.get<std::string>(), "signing-keys.json") : Result<Bytes>(Error{});
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
  void UpdateTrust(const meshcfg::MeshState& state) {
    if (state.signing_keys.empty() || state.signing_keys == trusted_) return;
    json arr = json::array();
    for (const auto& k : state.signing_keys) arr.push_back(Base64Encode(k));
    if (auto st = pki::WritePrivateFile(o_.state_dir + "/signing-keys.json", arr.dump() + "\n"); !st.ok()) {
      Log("could not save the config-signing keys: " + st.error().ToString());
      return;  // keep the old set: the next announcement retries
    }
    trusted_ = state.signing_keys;
    std::string list;
    for (const auto& k : trusted_) list += (list.empty() ? "" : ", ") + Base64Encode(k);
    Log("config-signing keys now trusted: " + list);
  }

  void LoadSaved() {
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
      Log("applied saved generation " + std::to_string(held_.state.generation) + " before contacting the authority");
    } else {
      Log("could not apply saved config: " + st.error().ToString());
    }
  }

  Status Apply(const meshcfg::SignedState& s) {
    wg::DesiredDevice desired =
        DesiredFor(s.state, f_->enrolled.node_id, f_->wg_private.view(), o_.listen_port);
    TPMESH_ASSIGN_OR_RETURN(auto current, device_->Get());
    wg::WgDeviceConfig change = wg::ComputeApply(current, desired, last_applied_);
    if (!wg::IsNoop(change)) TPMESH_RETURN_IF_ERROR(device_->Set(change));
    if (s.state.mtu != f_->enrolled.mtu || s.state.mesh_prefix != f_->enrolled.mesh_prefix) {
      TPMESH_RETURN_IF_ERROR(link_.Configure(o_.ifname, f_->enrolled.overlay_address,
                                             s.state.mesh_prefix, s.state.mtu));
    }
    last_applied_ = std::move(desired);
    held_ = s;
    have_state_ = true;
    TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(o_.state_dir + "/mesh.json", meshcfg::ToJson(s)));
    UpdateTrust(s.state);
    return OkStatus();
  }

  static bool IsCertRefusal(const Error& e) {
    return e.reason == "node_cert_superseded" || e.reason == "node_cert_expired";
  }

  // After `why` (IsCertRefusal): reads the state directory again and, if an
  // `enroll --force` left a new, consistent identity there, uses it. False
  // (logged) when there is nothing new to use yet.
  bool ReloadIdentity(const Error& why) {
    Log("the node certificate is not accepted (" + why.ToString() + "); reading " + o_.state_dir + " again");
    auto fresh = LoadNodeFiles(o_.state_dir, o_.extra_authority_urls);
    if (!fresh.ok()) {
      Log("reload: " + fresh.error().ToString());
      return false;
    }
    if (SameNodeFiles(**fresh, *f_)) {
      Log(o_.state_dir + " holds the same node certificate and keys: this node must enroll again "
          "('tpmesh-client enroll --force'); the mesh keeps its last config meanwhile");
      return false;
    }
    NodeFiles& n = **fresh;
    if (Status st = CheckNotExpired(n.node_cert, SystemClock::Instance().Now()); !st.ok()) {
      Log("reload: the new files are not usable: " + st.error().ToString());
      return false;
    }
    // node.key and node.crt must belong together (enroll may still be writing).
    if (auto probe = net::MakeClient(net::ClientOptions{n.authority_urls[0], n.ca, n.node_cert, n.node_key, 5});
        !probe.ok()) {
      Log("reload: the new files do not fit together yet (" + probe.error().ToString() + ")");
      return false;
    }
    if (Status st = Adopt(std::move(*fresh)); !st.ok()) {
      Log("reload: could not apply the new identity: " + st.error().ToString());
      return false;
    }
    return true;
  }

  // Switches the running daemon to a re-enrolled identity.
  Status Adopt(std::unique_ptr<NodeFiles> n) {
    const auto& e = n->enrolled;
    const bool moved = e.overlay_address != f_->enrolled.overlay_address ||
                       e.mesh_prefix != f_->enrolled.mesh_prefix || e.mtu != f_->enrolled.mtu;
    TPMESH_ASSIGN_OR_RETURN(Bytes pub, WgPublicFromPrivate(n->wg_private.view()));
    if (pub != wg_public_) {
      wg::WgDeviceConfig change;
      change.private_key = SecretBytes(n->wg_private.view());
      TPMESH_RETURN_IF_ERROR(device_->Set(change));
      last_applied_.private_key = SecretBytes(n->wg_private.view());
      Log("reload: set the new WireGuard key " + Base64Encode(pub) + " on " + o_.ifname);
    }
    if (moved) {
      TPMESH_RETURN_IF_ERROR(link_.Configure(o_.ifname, e.overlay_address, e.mesh_prefix, e.mtu));
      Log("reload: " + o_.ifname + " now has " + e.overlay_address);
    }
    if (e.node_id != f_->enrolled.node_id) have_state_ = false;  // the held config names another self
    f_ = std::move(n);
    wg_public_ = std::move(pub);
    switch_unreported_ = false;  // a rotation of the old key is void
    LoadTrust();                 // the enrollment pinned the current config-signing key
    client_.reset();             // reconnect with the new certificate
    need_ack_ = true;
    Log("reload: now node " + f_->enrolled.node_id + " with its new certificate; reconnecting");
    return OkStatus();
  }

  // Renews the node certificate at half its life (renew.h). A failure is
  // logged and retried a minute later; the current certificate stays in use
  // until then (a quarantined node then gets 403 on its polls).
  void MaybeRenew(const std::string& url) {
    if (o_.tcti.empty() || std::chrono::steady_clock::now() < next_renew_try_) return;
    const TimePoint now = SystemClock::Instance().Now();
    auto window = ReadCertWindow(f_->node_cert);
    if (window.ok() && !keyrotate::ShouldRenew(window->not_before, window->not_after, now)) return;
    // Only a failure holds the next attempt off: a success is followed by
    // the next half-life check (short-lived certificates renew often).
    const auto retry_later = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    if (!tpm_) {
      auto tpm = attest::OpenTpm(o_.tcti);
      if (!tpm.ok()) {
        Log("certificate renewal: " + tpm.error().ToString());
        next_renew_try_ = retry_later;
        return;
      }
      tpm_ = std::move(tpm).value();
    }
    auto client = net::MakeClient(net::ClientOptions{url, f_->ca, f_->node_cert, f_->node_key, 30});
    Result<bool> renewed = client.ok() ? RenewNodeCert(o_.state_dir, *tpm_, **client, SystemClock::Instance())
                                       : Result<bool>(client.error());
    if (!renewed.ok()) {
      Log("certificate renewal failed: " + renewed.error().ToString());
      next_renew_try_ = retry_later;
      return;
    }
    if (!*renewed) return;
    auto cert = pki::ReadFile(o_.state_dir + "/node.crt");
    auto key = pki::ReadFile(o_.state_dir + "/node.key");
    if (!cert.ok() || !key.ok()) {
      Log("certificate renewed but could not be reloaded; restart the daemon");
      return;
    }
    sodium_memzero(f_->node_key.data(), f_->node_key.size());
    f_->node_cert = std::move(cert).value();
    f_->node_key = std::move(key).value();
    client_.reset();  // reconnect with the new certificate
    Log("renewed the node certificate (TPM re-attested)");
  }

  Result<std::unique_ptr<net::Client>> ClientFor(const std::string& url) {
    return net::MakeClient(net::ClientOptions{url, f_->ca, f_->node_cert, f_->node_key,
                                              o_.poll_wait_seconds + 15});
  }

  Status PollOnce(const std::string& url) {
    // The authority's TLS layer drops an expired certificate without a word.
    TPMESH_RETURN_IF_ERROR(CheckNotExpired(f_->node_cert, SystemClock::Instance().Now()));
    if (!client_ || client_url_ != url) {
      TPMESH_ASSIGN_OR_RETURN(client_, ClientFor(url));
      client_url_ = url;
      stop_.OnStop([weak = std::weak_ptr<net::Client>(client_)] {
        if (auto c = weak.lock()) c->Cancel();
      });
      need_ack_ = true;
    }
    // The authority keeps reports in memory: tell it what we hold on every
    // (re)connection, else after its restart it shows us as "never" applied
    // until the next generation change.
    if (need_ack_ && have_state_) {
      if (auto st = AckAndRotate(*client_); !st.ok()) {
        client_.reset();
        return st;
      }
      need_ack_ = false;
    }
    const int64_t since = have_state_ ? held_.state.generation : -1;
    auto r = client_->Get("/v1/node/config?since=" + std::to_string(since) +
                          "&wait=" + std::to_string(o_.poll_wait_seconds));
    if (!r.ok()) {
      client_.reset();
      return r.take_error();
    }
    if (r->status == 204) {
      // Nothing changed: refresh the interface status (handshake ages,
      // transfer) the authority shows, once per poll period.
      need_ack_ = true;
      return OkStatus();
    }
    if (r->status != 200) return net::ErrorFromResponse(*r);
    TPMESH_ASSIGN_OR_RETURN(auto next, Verify(r->body));
    if (auto st = Apply(next); !st.ok()) {
      Log("applying generation " + std::to_string(next.state.generation) + " failed: " + st.error().ToString());
      return st;
    }
    Log("applied generation " + std::to_string(next.state.generation) + ": " +
        std::to_string(meshcfg::PeersOf(next.state, f_->enrolled.node_id).size()) + " peer(s)");
    if (auto st = AckAndRotate(*client_); !st.ok()) {
      need_ack_ = true;  // retried before the next poll
      client_.reset();
      return st;
    }
    return OkStatus();
  }

  // Acknowledges the held generation, then does what the answer says for
  // the key rotation (docs/protocol.md, "Key rotation"). An answer that does
  // not parse is logged and not acted on (ack_answer.h).
  Status AckAndRotate(net::Client& client) {
    TPMESH_ASSIGN_OR_RETURN(std::string body, Ack(client));
    auto answer = ParseAckAnswer(body);
    if (!answer.ok()) {
      Log("ignoring the authority's ack answer: " + answer.error().ToString());
    } else {
      if (answer->ca_bundle) UpdateCaBundle(*answer->ca_bundle);
      if (answer->rotation == AckAnswer::Rotation::kPrepare) {
        TPMESH_RETURN_IF_ERROR(RegisterNextKey(client));
      } else if (answer->rotation == AckAnswer::Rotation::kSwitch) {
        TPMESH_RETURN_IF_ERROR(SwitchKey(client, answer->next_public_key));
      }
    }
    if (switch_unreported_) TPMESH_RETURN_IF_ERROR(ReportSwitched(client));
    return OkStatus();
  }

  // The authority's CA bundle changed (CA rotation): trust the new one for
  // every later connection. It came over a connection verified with the
  // bundle we held.
  void UpdateCaBundle(const std::string& bundle) {
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

  // The next keypair is made here and never leaves this host; only its
  // public half is registered.
  Status RegisterNextKey(net::Client& client) {
    TPMESH_ASSIGN_OR_RETURN(auto next, LoadOrCreateNextKey(o_.state_dir, wg_public_, SystemRandom::Instance()));
    json body{{"next_public_key", Base64Encode(next.public_key)}};
    TPMESH_ASSIGN_OR_RETURN(auto r, client.Post("/v1/node/rotate/prepare", body.dump()));
    if (r.status != 200) {
      Error e = net::ErrorFromResponse(r);
      if (e.reason == "key_in_use" || e.reason == "invalid_key") DiscardNextKey(o_.state_dir);
      return e;
    }
    Log("key rotation: registered the next WireGuard key " + Base64Encode(next.public_key));
    return OkStatus();
  }

  // Every live peer holds the next key: switch the private key first (our
  // packets wait in WireGuard's staging queue until each peer has moved our
  // prefix to the new key and handshaken), then tell the authority.
  Status SwitchKey(net::Client& client, const Bytes& want) {
    if (want == wg_public_) {
      switch_unreported_ = true;  // switched before, the report got lost
      return OkStatus();
    }
    TPMESH_ASSIGN_OR_RETURN(auto next, LoadNextKey(o_.state_dir, wg_public_));
    if (!next || next->public_key != want) {
      Log("key rotation: told to switch to a key this node does not hold; registering a new one");
      DiscardNextKey(o_.state_dir);
      return RegisterNextKey(client);
    }
    // Durable first: after a crash here the daemon starts with the new key,
    // and the authority's repeated "switch" finds it already in use.
    TPMESH_RETURN_IF_ERROR(PromoteNextKey(o_.state_dir, *next));
    wg::WgDeviceConfig change;
    change.private_key = SecretBytes(next->private_key.view());
    f_->wg_private = SecretBytes(next->private_key.view());
    last_applied_.private_key = SecretBytes(next->private_key.view());
    wg_public_ = next->public_key;
    switch_unreported_ = true;
    TPMESH_RETURN_IF_ERROR(device_->Set(change));
    Log("key rotation: switched to WireGuard key " + Base64Encode(wg_public_));
    return OkStatus();
  }

  Status ReportSwitched(net::Client& client) {
    json body{{"public_key", Base64Encode(wg_public_)}};
    TPMESH_ASSIGN_OR_RETURN(auto r, client.Post("/v1/node/rotate/switched", body.dump()));
    if (r.status != 200) return net::ErrorFromResponse(r);
    switch_unreported_ = false;
    Log("key rotation: committed by the authority");
    return OkStatus();
  }

  // Verifies a config body against what we hold; never goes backwards.
  Result<meshcfg::SignedState> Verify(const std::string& body) {
    return VerifyConfigResponse(body, have_state_ ? &held_ : nullptr, trusted_);
  }

  // POSTs the ack; returns the answer's body.
  Result<std::string> Ack(net::Client& client) {
    TPMESH_ASSIGN_OR_RETURN(auto dev, device_->Get());
    json peers = json::array();
    for (const auto& p : dev.peers) {
      peers.push_back(json{{"public_key", Base64Encode(p.public_key)},
                           {"last_handshake", p.last_handshake_sec},
                           {"rx_bytes", p.rx_bytes},
                           {"tx_bytes", p.tx_bytes}});
    }
    Bytes ca_hash(crypto_hash_sha256_BYTES);
    crypto_hash_sha256(ca_hash.data(), reinterpret_cast<const uint8_t*>(f_->ca.data()), f_->ca.size());
    json body{{"generation", held_.state.generation}, {"peers", peers}, {"ca_bundle_sha256", HexEncode(ca_hash)}};
    TPMESH_ASSIGN_OR_RETURN(auto r, client.Post("/v1/node/ack", body.dump()));
    if (r.status != 200) return net::ErrorFromResponse(r);
    return std::move(r.body);
  }

  const DaemonOptions& o_;
  LinkConfigurator& link_;
  StopSignal& stop_;
  const LogFn& log_;
  std::unique_ptr<NodeFiles> f_;
  std::vector<Bytes> trusted_;
  std::unique_ptr<wg::WgDevice> device_;
  std::shared_ptr<net::Client> client_;  // shared with StopSignal's abort
  std::string client_url_;
  wg::DesiredDevice last_applied_;
  meshcfg::SignedState held_;
  bool have_state_ = false;
  bool need_ack_ = true;  // report held state on the next (re)connection
  Bytes wg_public_;       // of f_->wg_private
  bool switch_unreported_ = false;  // switched keys; the authority has not confirmed yet
  std::unique_ptr<attest::Tpm> tpm_;  // opened at the first renewal
  std::chrono::steady_clock::time_point next_renew_try_{};
};

}  // namespace

void StopSignal::Stop() {
  stopped_ = true;
  std::lock_guard<std::mutex> lock(mu_);
  if (abort_) abort_();
}

void StopSignal::OnStop(std::function<void()> abort) {
  std::lock_guard<std::mutex> lock(mu_);
  abort_ = std::move(abort);
  if (stopped_) abort_();  // stopped before this call was in flight
}

Status RunDaemon(const DaemonOptions& options, LinkConfigurator& link, StopSignal& stop,
                 const LogFn& log) {
  if (sodium_init() < 0) return MakeError(Code::kInternal, "sodium_init", "libsodium failed to initialize");
  TPMESH_ASSIGN_OR_RETURN(auto files, LoadNodeFiles(options.state_dir, options.extra_authority_urls));
  Daemon d(options, link, stop, log, std::move(files));
  return d.Run();
}

}  // namespace tpmesh::client
