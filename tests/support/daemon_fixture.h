// A fixture for unit tests of the node daemon (daemon.h): a real authority
// in process (InProcessAuthority: service, SQLite store, API handler) over
// InProcessNet, a memory WireGuard device, a fake link and the node's
// SoftTpm, on simulated time (FakeClock and FakeMonotonicClock moving
// together): no sockets, no TLS, no real sleeps. SetUp enrolls this node
// ("host-self", its state directory written as `tpmesh-client enroll`
// leaves it) and one peer ("host-b"). For one test binary (everything is
// inline); link tpmesh_client, tpmesh_authority, tpmesh_testsupport and
// compile inproc_authority.cc in.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "tests/support/api_test_util.h"
#include "tests/support/fake_env.h"
#include "tests/support/inproc_authority.h"
#include "tests/support/inproc_net.h"
#include "tests/support/soft_tpm.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/client/daemon.h"
#include "tpmesh/client/enroll.h"
#include "tpmesh/meshcfg/meshcfg.h"
#include "tpmesh/pki/pki.h"
#include "tpmesh/wg/memory_device.h"

namespace tpmesh::testing {

using client::DaemonEnv;
using client::NodeDaemon;
using client::StopSignal;

inline const std::string kUrl1 = "https://authority-1.test:8443";
inline const std::string kUrl2 = "https://authority-2.test:8443";
inline const std::string kUrl3 = "https://authority-3.test:8443";

// make_device's answer: a handle onto the device the test owns.
class DeviceRef final : public wg::WgDevice {
 public:
  explicit DeviceRef(wg::MemoryWgDevice& d) : d_(d) {}
  Result<wg::WgDeviceConfig> Get() override { return d_.Get(); }
  Status Set(const wg::WgDeviceConfig& c) override { return d_.Set(c); }
  std::string name() const override { return d_.name(); }

 private:
  wg::MemoryWgDevice& d_;
};

// make_tpm's answer: a handle onto the node's SoftTpm (its AK loads only
// there, and the authority checks that its quote clock keeps counting).
class TpmRef final : public attest::Tpm {
 public:
  explicit TpmRef(attest::Tpm& t) : t_(t) {}
  Result<attest::EkBundle> ReadEk(attest::KeyAlg a) override { return t_.ReadEk(a); }
  Result<attest::AkBlob> CreateAk(attest::KeyAlg a) override { return t_.CreateAk(a); }
  Result<SecretBytes> ActivateCredential(const attest::AkBlob& ak, attest::KeyAlg a,
                                         const attest::Credential& c) override {
    return t_.ActivateCredential(ak, a, c);
  }
  Result<attest::QuoteEvidence> Quote(const attest::AkBlob& ak, const attest::PcrSelection& s,
                                      ByteView nonce) override {
    return t_.Quote(ak, s, nonce);
  }
  Result<attest::PcrValues> ReadPcrs(const attest::PcrSelection& s) override {
    return t_.ReadPcrs(s);
  }
  Status ExtendPcr(uint32_t pcr, ByteView digest) override { return t_.ExtendPcr(pcr, digest); }
  Result<size_t> TransientHandleCount() override { return t_.TransientHandleCount(); }

 private:
  attest::Tpm& t_;
};

class FakeLink final : public client::LinkConfigurator {
 public:
  Status Ensure(const std::string& ifname) override { return Add("ensure " + ifname); }
  Status Configure(const std::string& ifname, const std::string& address, const std::string& prefix,
                   int mtu) override {
    return Add("configure " + ifname + " " + address + " " + prefix + " " + std::to_string(mtu));
  }
  Status TearDown(const std::string& ifname) override { return Add("teardown " + ifname); }
  size_t Count(const std::string& prefix) const {
    return static_cast<size_t>(std::count_if(
        calls.begin(), calls.end(), [&](const std::string& c) { return c.rfind(prefix, 0) == 0; }));
  }
  std::vector<std::string> calls;

 private:
  Status Add(std::string call) {
    calls.push_back(std::move(call));
    return OkStatus();
  }
};

// Another member, driven through the API by the test.
struct Peer {
  std::string node_id, cert_pem;
  Bytes wg_public;
  net::Caller caller() const { return NodeCaller(node_id, cert_pem); }
};

inline std::string StatusText(const std::optional<Status>& s) {
  if (!s) return "running";
  return s->ok() ? "OK" : s->error().ToString();
}

class DaemonFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    auto a = InProcessAuthority::Create(clock_);
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    authority_ = std::move(a).value();
    net_ = std::make_unique<InProcessNet>(authority_->handler());
    ASSERT_NO_FATAL_FAILURE(EnrollSelf());
    ASSERT_NO_FATAL_FAILURE(EnrollPeer("host-b", &b_));
    options_.state_dir = state_.path();
    options_.ifname = "tpmtest0";
    options_.uapi_dir = "/nonexistent";
    options_.max_backoff_seconds = 30;
  }

  void Write(const std::string& name, const std::string& data) {
    ASSERT_TRUE(pki::WritePrivateFile(state_.File(name), data).ok()) << name;
  }
  std::string Read(const std::string& name) {
    auto r = pki::ReadFile(state_.File(name));
    return r.ok() ? *r : "";
  }

  // What `tpmesh-client enroll` leaves in the state directory.
  void EnrollSelf() {
    client::WgKeyPair wg = client::GenerateWgKeyPair(rng_);
    auto key = pki::GenerateKeyPem();
    ASSERT_TRUE(key.ok());
    auto e = authority_->Enroll(tpm_, "host-self", wg.public_key, *key);
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    self_ = e->result;
    self_wg_ = SecretBytes(wg.private_key.view());
    Bytes blob = e->ak.Serialize();
    Write("ak.blob", std::string(blob.begin(), blob.end()));
    Write("node.key", *key);
    Write("node.crt", self_.node_cert_pem);
    Write("ca.crt", self_.ca_bundle_pem);
    Write("authority", kUrl1 + "\n");
    Write("wg.key", Base64Encode(wg.private_key.view()) + "\n");
    Write("wg.pub", Base64Encode(wg.public_key) + "\n");
    Write("node.json", proto::ToJson(self_));
  }

  void EnrollPeer(const std::string& host, Peer* out) {
    SoftTpm tpm("daemon-" + host);
    client::WgKeyPair wg = client::GenerateWgKeyPair(rng_);
    auto key = pki::GenerateKeyPem();
    ASSERT_TRUE(key.ok());
    auto e = authority_->Enroll(tpm, host, wg.public_key, *key);
    ASSERT_TRUE(e.ok()) << e.error().ToString();
    *out = Peer{e->result.node_id, e->result.node_cert_pem, wg.public_key};
  }

  DaemonEnv Env() {
    return DaemonEnv{
        clock_,
        mono_,
        rng_,
        [this](const net::ClientOptions& o) { return net_->MakeClient(o); },
        [this](const std::string&, const std::string&) -> Result<std::unique_ptr<wg::WgDevice>> {
          return std::unique_ptr<wg::WgDevice>(new DeviceRef(*device_));
        },
        [this](const std::string& tcti) -> Result<std::unique_ptr<attest::Tpm>> {
          tpm_opens_.push_back(tcti);
          if (tpm_failures_ > 0) {
            --tpm_failures_;
            return MakeError(Code::kUnavailable, "tpm_unavailable",
                             "test: the TPM does not answer");
          }
          return std::unique_ptr<attest::Tpm>(new TpmRef(tpm_swap_ ? *tpm_swap_ : tpm_));
        },
        [this] { return host_addresses_; },
        nullptr,  // no address watch: tests Nudge the StopSignal themselves
    };
  }

  // Create and Start, both expected to succeed.
  std::unique_ptr<NodeDaemon> StartDaemon() {
    auto d = NodeDaemon::Create(options_, Env(), link_, stop_,
                                [this](const std::string& l) { log_.push_back(l); });
    EXPECT_TRUE(d.ok()) << d.error().ToString();
    if (!d.ok()) return nullptr;
    Status st = (*d)->Start();
    EXPECT_TRUE(st.ok()) << st.error().ToString();
    return std::move(d).value();
  }
  // One round that must leave the daemon running.
  void Step(NodeDaemon& d) {
    auto r = d.Step();
    ASSERT_FALSE(r.has_value()) << StatusText(r) << "\n" << Log();
  }

  std::vector<InProcessNet::Request> Requests(const std::string& method,
                                              const std::string& prefix) {
    std::vector<InProcessNet::Request> out;
    for (auto& r : net_->requests()) {
      if (r.method == method && r.target.rfind(prefix, 0) == 0) out.push_back(r);
    }
    return out;
  }
  std::vector<InProcessNet::Request> Polls() { return Requests("GET", "/v1/node/config"); }
  int64_t Generation() { return authority_->publisher().generation(); }
  // The generation the authority last heard this node acknowledge (-1: none).
  int64_t Acked() {
    auto reports = authority_->service().Reports();
    auto it = reports.find(self_.node_id);
    return it == reports.end() ? -1 : it->second.applied_generation;
  }
  int64_t SavedGeneration() {
    auto s = meshcfg::ParseSignedState(Read("mesh.json"));
    return s.ok() ? s->state.generation : -1;
  }
  std::vector<Bytes> PeerKeys() {
    auto cfg = device_->Get();
    std::vector<Bytes> keys;
    if (cfg.ok()) {
      for (const auto& p : cfg->peers) keys.push_back(p.public_key);
    }
    std::sort(keys.begin(), keys.end());
    return keys;
  }
  Bytes DevicePrivateKey() {
    auto cfg = device_->Get();
    return cfg.ok() && cfg->private_key
               ? Bytes(cfg->private_key->view().begin(), cfg->private_key->view().end())
               : Bytes{};
  }
  net::HttpResponse Admin(const std::string& method, const std::string& path,
                          const nlohmann::json& body) {
    return authority_->Call(method, path, body.dump(), kAdmin);
  }
  // An admin revokes this node.
  void RevokeSelf(const std::string& reason) {
    auto r = Admin("POST", "/v1/admin/nodes/" + self_.node_id + "/revoke",
                   nlohmann::json{{"reason", reason}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // The peer acknowledges `generation` (the current one by default).
  nlohmann::json PeerAck(const Peer& p, int64_t generation = -1,
                         const std::string& ca_sha256 = "") {
    nlohmann::json body{{"generation", generation < 0 ? Generation() : generation}};
    if (!ca_sha256.empty()) body["ca_bundle_sha256"] = ca_sha256;
    auto r = authority_->Call("POST", "/v1/node/ack", body.dump(), p.caller());
    EXPECT_EQ(r.status, 200) << r.body;
    return ParseBody(r);
  }
  bool Logged(const std::string& text) const {
    return std::any_of(log_.begin(), log_.end(),
                       [&](const std::string& l) { return l.find(text) != l.npos; });
  }
  std::string Log() const {
    std::string out;
    for (const auto& l : log_) out += "  " + l + "\n";
    return out;
  }

  FakeClock clock_;
  FakeMonotonicClock mono_{&clock_};
  FakeRandom rng_{7};
  std::unique_ptr<InProcessAuthority> authority_;
  std::unique_ptr<InProcessNet> net_;
  TempDir state_{"tpmesh-daemon"};
  SoftTpm tpm_{"daemon-self"};
  proto::EnrollFinishResponse self_;
  SecretBytes self_wg_;
  Peer b_;
  client::DaemonOptions options_;
  std::unique_ptr<wg::MemoryWgDevice> device_ = std::make_unique<wg::MemoryWgDevice>("tpmtest0");
  FakeLink link_;
  StopSignal stop_;
  std::vector<std::string> log_;
  std::vector<std::string> tpm_opens_;
  int tpm_failures_ = 0;
  // What the host's interfaces hold (derived endpoints); empty: none derived.
  std::vector<client::HostAddress> host_addresses_;
  attest::Tpm* tpm_swap_ = nullptr;  // make_tpm opens this one instead of tpm_
};

}  // namespace tpmesh::testing
