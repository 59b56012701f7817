// The node daemon (tpmesh-client run), one round at a time, against a real
// authority in process on simulated time (daemon_fixture.h): full then delta
// configs, restart with a saved config, signing-key and CA rotation, WireGuard
// key rotation, revocation, backoff across authority URLs, renewal timing.
#include <sodium.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "tests/support/daemon_fixture.h"
#include "tpmesh/client/keyfiles.h"
#include "tpmesh/client/renew.h"

namespace tpmesh::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;

class DaemonTest : public DaemonFixture {
 protected:
  std::string Gen(int64_t g) { return std::to_string(g); }
  // signing-keys.json, decoded.
  std::vector<Bytes> TrustedFile() {
    std::vector<Bytes> out;
    json j = json::parse(Read("signing-keys.json"), nullptr, false);
    if (!j.is_array()) return out;
    for (const auto& k : j) {
      auto b = Base64Decode(k.get<std::string>(), "test");
      if (b.ok()) out.push_back(*b);
    }
    return out;
  }
  static std::string Sha256Hex(const std::string& s) {
    Bytes h(crypto_hash_sha256_BYTES);
    crypto_hash_sha256(h.data(), reinterpret_cast<const uint8_t*>(s.data()), s.size());
    return HexEncode(h);
  }
  Bytes SelfWgPrivate() const { return Bytes(self_wg_.view().begin(), self_wg_.view().end()); }
  // A new host boot: a fresh (empty) WireGuard device and an empty log.
  void Reboot() {
    device_ = std::make_unique<wg::MemoryWgDevice>("tpmtest0");
    log_.clear();
    net_->ClearLog();
  }
};

TEST_F(DaemonTest, FullStateFirstThenDeltasAppliedSavedAndAcknowledged) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_EQ(link_.calls, (std::vector<std::string>{"ensure tpmtest0",
                                                   "configure tpmtest0 " + self_.overlay_address +
                                                       " " + self_.mesh_prefix + " 1420"}));
  const int64_t g1 = Generation();
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  auto polls = Polls();
  ASSERT_EQ(polls.size(), 1u);
  EXPECT_EQ(polls[0].target, "/v1/node/config?since=-1&wait=25");
  EXPECT_TRUE(json::parse(polls[0].response).contains("full"));
  EXPECT_EQ(PeerKeys(), std::vector<Bytes>{b_.wg_public});
  EXPECT_EQ(DevicePrivateKey(), SelfWgPrivate());
  EXPECT_EQ(SavedGeneration(), g1);
  EXPECT_EQ(Acked(), g1);

  Peer c;
  ASSERT_NO_FATAL_FAILURE(EnrollPeer("host-c", &c));
  const int64_t g2 = Generation();
  ASSERT_GT(g2, g1);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  polls = Polls();
  ASSERT_EQ(polls.size(), 2u);
  EXPECT_EQ(polls[1].target, "/v1/node/config?since=" + Gen(g1) + "&wait=25");
  EXPECT_TRUE(json::parse(polls[1].response).contains("delta")) << polls[1].response.substr(0, 200);
  std::vector<Bytes> want{b_.wg_public, c.wg_public};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(PeerKeys(), want);
  EXPECT_EQ(SavedGeneration(), g2);
  EXPECT_EQ(Acked(), g2);

  // Nothing newer: the long poll answers 204 and the next round reports again.
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_EQ(Polls().size(), 3u);
  EXPECT_EQ(Polls().back().status, 204);
  const size_t acks = Requests("POST", "/v1/node/ack").size();
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(Requests("POST", "/v1/node/ack").size(), acks + 1);
  EXPECT_TRUE(mono_.sleeps().empty()) << "no failure, no backoff";
}

TEST_F(DaemonTest, RestartAppliesTheSavedConfigBeforeContactingTheAuthority) {
  {
    auto first = StartDaemon();
    ASSERT_TRUE(first);
    ASSERT_NO_FATAL_FAILURE(Step(*first));
  }
  const int64_t saved = SavedGeneration();
  ASSERT_EQ(saved, Generation());
  Reboot();
  net_->SetReachable(kUrl1, false);  // and the authority is down
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_TRUE(net_->requests().empty()) << "Start contacts nobody";
  EXPECT_EQ(PeerKeys(), std::vector<Bytes>{b_.wg_public});
  EXPECT_EQ(DevicePrivateKey(), SelfWgPrivate());
  EXPECT_TRUE(Logged("applied saved generation " + Gen(saved) + " before contacting the authority"))
      << Log();

  // Fail-static: the first request reports the saved generation; it fails and nothing changes.
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  auto reqs = net_->requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/v1/node/ack");
  EXPECT_FALSE(reqs[0].reached);
  EXPECT_EQ(json::parse(reqs[0].body).value("generation", int64_t{-2}), saved);
  EXPECT_EQ(PeerKeys(), std::vector<Bytes>{b_.wg_public});
  EXPECT_EQ(SavedGeneration(), saved);

  // Back: the long poll goes on from the saved generation (no full state again).
  net_->SetReachable(kUrl1, true);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_EQ(Polls().size(), 1u);
  EXPECT_EQ(Polls()[0].target, "/v1/node/config?since=" + Gen(saved) + "&wait=25");
  EXPECT_EQ(Polls()[0].status, 204);
  EXPECT_EQ(Acked(), saved);
}

TEST_F(DaemonTest, TrustsAnnouncedSigningKeysThroughSwitchRetireAndRestart) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_FALSE(fs::exists(state_.File("signing-keys.json")));
  ASSERT_EQ(Admin("POST", "/v1/admin/keys/signing/rotate", json{{"reason", "drill"}}).status, 200);
  const int64_t announced = Generation();
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(SavedGeneration(), announced);
  const std::vector<Bytes> both = TrustedFile();
  ASSERT_EQ(both.size(), 2u);
  EXPECT_EQ(both[0], authority_->original_signing_key());
  const Bytes next = both[1];
  EXPECT_TRUE(Logged("config-signing keys now trusted")) << Log();

  // Every node holds the announcement: the authority signs with the new key.
  PeerAck(b_, announced);
  EXPECT_EQ(Acked(), announced);
  ASSERT_TRUE(authority_->service().RotationTick().ok());
  ASSERT_EQ(authority_->service().ConfigSigningPublic(), next);
  const int64_t switched = Generation();
  ASSERT_GT(switched, announced);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(SavedGeneration(), switched);

  // The old key retires after the overlap; the new one alone still verifies.
  clock_.Advance(601);
  ASSERT_TRUE(authority_->service().RotationTick().ok());
  const int64_t retired = Generation();
  ASSERT_GT(retired, switched);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(SavedGeneration(), retired);
  EXPECT_EQ(TrustedFile(), std::vector<Bytes>{next});

  // A restart trusts the saved set, not only the key pinned at enrollment.
  d.reset();
  Reboot();
  net_->SetReachable(kUrl1, false);
  d = StartDaemon();
  ASSERT_TRUE(d);
  EXPECT_TRUE(Logged("applied saved generation " + Gen(retired))) << Log();
  EXPECT_EQ(PeerKeys(), std::vector<Bytes>{b_.wg_public});
}

TEST_F(DaemonTest, TakesTheNewCaBundleFromTheAckAndReportsIt) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  const std::string old_ca = Read("ca.crt");
  const std::string old_fp = authority_->service().CurrentCa()->Fingerprint();
  ASSERT_EQ(Admin("POST", "/v1/admin/keys/ca/rotate", json{{"reason", "drill"}}).status, 200);
  const std::string bundle = authority_->service().CaBundle();
  ASSERT_NE(bundle, old_ca);
  // Every other node trusts the new CA; this one reported the old bundle: no switch.
  PeerAck(b_, -1, Sha256Hex(bundle));
  ASSERT_TRUE(authority_->service().RotationTick().ok());
  EXPECT_EQ(authority_->service().CurrentCa()->Fingerprint(), old_fp);
  ASSERT_NO_FATAL_FAILURE(
      Step(*d));  // its ack reports the old bundle; the answer holds the new one
  EXPECT_EQ(Read("ca.crt"), bundle);
  EXPECT_TRUE(Logged("authority CA bundle updated: 2 certificate(s)")) << Log();

  // A reconnection (after a failure) verifies the authority with the new bundle.
  net_->SetReachable(kUrl1, false);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  net_->SetReachable(kUrl1, true);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(net_->clients().back().ca_pem, bundle);
  const auto acks = Requests("POST", "/v1/node/ack");
  ASSERT_FALSE(acks.empty());
  EXPECT_EQ(json::parse(acks.back().body).value("ca_bundle_sha256", ""), Sha256Hex(bundle));
  ASSERT_TRUE(authority_->service().RotationTick().ok());
  EXPECT_NE(authority_->service().CurrentCa()->Fingerprint(), old_fp);
}

TEST_F(DaemonTest, KeyRotationRegistersTheNextKeyThenSwitchesWhenPeersHoldIt) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  PeerAck(b_);  // b is live: the switch waits for it
  ASSERT_EQ(Admin("POST", "/v1/admin/keys/rotate", json{{"nodes", {"host-self"}}}).status, 200);
  ASSERT_NO_FATAL_FAILURE(Step(*d));  // ack -> "prepare" -> register
  auto next = client::ReadWgKeyFile(state_.File("wg.next.key"));
  ASSERT_TRUE(next.ok()) << next.error().ToString() << "\n" << Log();
  auto prepares = Requests("POST", "/v1/node/rotate/prepare");
  ASSERT_EQ(prepares.size(), 1u);
  EXPECT_EQ(prepares[0].status, 200) << prepares[0].response;
  EXPECT_EQ(json::parse(prepares[0].body).value("next_public_key", ""),
            Base64Encode(next->public_key));
  EXPECT_EQ(DevicePrivateKey(), SelfWgPrivate()) << "not switched before the peers hold the key";
  const int64_t announced = Generation();
  EXPECT_EQ(SavedGeneration(), announced);

  PeerAck(b_, announced);  // b holds the next key
  const int keepalives = device_->keepalives_to(b_.wg_public);
  for (int i = 0; i < 3 && Requests("POST", "/v1/node/rotate/switched").empty(); ++i) {
    ASSERT_NO_FATAL_FAILURE(Step(*d));
  }
  auto switched = Requests("POST", "/v1/node/rotate/switched");
  ASSERT_EQ(switched.size(), 1u) << Log();
  EXPECT_EQ(switched[0].status, 200) << switched[0].response;
  EXPECT_EQ(DevicePrivateKey(),
            Bytes(next->private_key.view().begin(), next->private_key.view().end()));
  EXPECT_EQ(device_->keepalives_to(b_.wg_public), keepalives + 1)
      << "the switch sends each peer a keepalive, so the new key's handshake leaves before the "
         "report (no crossing with the peer's)";
  auto current = client::ReadWgKeyFile(state_.File("wg.key"));
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(current->public_key, next->public_key);
  EXPECT_FALSE(fs::exists(state_.File("wg.next.key")));
  auto node = authority_->service().GetNode(self_.node_id);
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(node->wg_public_key, next->public_key) << "committed by the authority";
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(SavedGeneration(), Generation());
  EXPECT_EQ(Acked(), Generation());
}

TEST_F(DaemonTest, RevocationTearsTheInterfaceDownAndEnds) {
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_TRUE(fs::exists(state_.File("mesh.json")));
  ASSERT_NO_FATAL_FAILURE(RevokeSelf("stolen"));
  auto end = d->Step();
  ASSERT_TRUE(end.has_value());
  ASSERT_FALSE(end->ok());
  EXPECT_EQ(end->error().reason, "node_revoked");
  EXPECT_EQ(link_.Count("teardown tpmtest0"), 1u);
  EXPECT_FALSE(fs::exists(state_.File("mesh.json")));
  EXPECT_TRUE(Logged("revoked by the authority")) << Log();
  EXPECT_TRUE(mono_.sleeps().empty()) << "no retry after a revocation";
}

TEST_F(DaemonTest, BacksOffWithJitterRotatingThroughAuthorityUrls) {
  options_.extra_authority_urls = {kUrl2, kUrl3};
  for (const auto& u : {kUrl1, kUrl2, kUrl3}) net_->SetReachable(u, false);
  FakeRandom twin = rng_;  // the jitter draws come from here on
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  for (int i = 0; i < 7; ++i) ASSERT_NO_FATAL_FAILURE(Step(*d));
  std::vector<std::string> tried;
  for (const auto& r : net_->requests()) tried.push_back(r.base_url);
  EXPECT_EQ(tried, (std::vector<std::string>{kUrl1, kUrl2, kUrl3, kUrl1, kUrl2, kUrl3, kUrl1}));
  std::vector<nanoseconds> want;
  for (int b : {1, 2, 4, 8, 16, 30, 30}) {
    const int r = static_cast<int>(UniformBelow(twin, 1000));
    want.push_back(milliseconds(b * 500 + b * r / 2 + 100));
  }
  EXPECT_EQ(mono_.sleeps(), want);

  // The second URL answers (the next in turn): the backoff starts over.
  net_->SetReachable(kUrl2, true);
  mono_.ClearSleeps();
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(net_->requests().back().base_url, kUrl2);
  EXPECT_EQ(SavedGeneration(), Generation());
  EXPECT_TRUE(mono_.sleeps().empty());
  net_->SetReachable(kUrl2, false);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_EQ(mono_.sleeps().size(), 1u);
  EXPECT_GE(mono_.sleeps()[0], milliseconds(600));
  EXPECT_LT(mono_.sleeps()[0], milliseconds(1100));

  // A stop ends the daemon at once; a stopped sleep does not wait.
  stop_.Stop();
  auto end = d->Step();
  ASSERT_TRUE(end.has_value());
  EXPECT_TRUE(end->ok());
  mono_.SleepFor(seconds(30), stop_.wakeup());
  EXPECT_EQ(mono_.sleeps().size(), 1u);
}

TEST_F(DaemonTest, RenewsAtHalfLifeAndRetriesAMinuteAfterAFailure) {
  options_.tcti = "soft:daemon-self";
  auto window = client::ReadCertWindow(self_.node_cert_pem);
  ASSERT_TRUE(window.ok());
  const int64_t half =
      ToUnixSeconds(window->not_before + (window->not_after - window->not_before) / 2);
  auto d = StartDaemon();
  ASSERT_TRUE(d);
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  clock_.Set(half - 10);  // just before half-life: not due
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_TRUE(tpm_opens_.empty());
  EXPECT_TRUE(Requests("POST", "/v1/node/renew").empty());

  clock_.Set(half + 1);
  tpm_failures_ = 1;  // the TPM does not answer the first time
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(tpm_opens_.size(), 1u);
  EXPECT_TRUE(Logged("certificate renewal: ")) << Log();
  mono_.Advance(seconds(59));
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(tpm_opens_.size(), 1u) << "retried before a minute had passed";
  mono_.Advance(seconds(2));
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  ASSERT_EQ(tpm_opens_.size(), 2u);
  EXPECT_EQ(tpm_opens_.back(), options_.tcti);
  auto finished = Requests("POST", "/v1/node/renew/finish");
  ASSERT_EQ(finished.size(), 1u) << Log();
  EXPECT_EQ(finished[0].status, 200) << finished[0].response;
  const std::string cert = Read("node.crt");
  EXPECT_NE(cert, self_.node_cert_pem);
  EXPECT_TRUE(Logged("renewed the node certificate")) << Log();
  // Reconnected with the new certificate, which the authority accepts.
  EXPECT_EQ(net_->clients().back().client_cert_pem, cert);
  EXPECT_TRUE(Polls().back().status == 200 || Polls().back().status == 204)
      << Polls().back().response;

  // The new certificate is not due: no second renewal.
  ASSERT_NO_FATAL_FAILURE(Step(*d));
  EXPECT_EQ(Requests("POST", "/v1/node/renew/finish").size(), 1u);
}

// The real sleep the daemon's backoff uses: a stop (Wakeup::Notify) ends it
// at once, also when it came first.
TEST(DaemonEnvTest, SystemSleepEndsAtOnceOnAWakeup) {
  Wakeup early;
  early.Notify();
  const auto t0 = std::chrono::steady_clock::now();
  SystemMonotonicClock::Instance().SleepFor(std::chrono::hours(1), early);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));

  Wakeup later;
  std::atomic<bool> woke{false};
  std::thread sleeper([&] {
    SystemMonotonicClock::Instance().SleepFor(std::chrono::hours(1), later);
    woke = true;
  });
  later.Notify();
  sleeper.join();  // hangs (and times out) if the sleep ignores the wakeup
  EXPECT_TRUE(woke);
  EXPECT_TRUE(later.notified());
}

TEST(DaemonEnvTest, UniformBelowStaysInRangeAndCoversIt) {
  FakeRandom rng(3);
  std::vector<int> seen(10, 0);
  for (int i = 0; i < 1000; ++i) {
    const uint32_t v = UniformBelow(rng, 10);
    ASSERT_LT(v, 10u);
    ++seen[v];
  }
  for (int count : seen) EXPECT_GT(count, 50) << "far from uniform";
  EXPECT_EQ(UniformBelow(rng, 1), 0u);
  EXPECT_LT(UniformBelow(rng, 1u << 31), 1u << 31);
}

}  // namespace
}  // namespace tpmesh::testing
