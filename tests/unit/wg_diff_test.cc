// ComputeApply against the in-memory device model.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "tpmesh/wg/diff.h"
#include "tpmesh/wg/memory_device.h"
#include "tpmesh/wg/uapi.h"

namespace tpmesh::wg {
namespace {

Bytes Key(uint8_t n) { return Bytes(kKeyLen, n); }

DesiredPeer Peer(uint8_t key, std::vector<std::string> ips,
                 std::optional<std::string> endpoint = std::nullopt, uint16_t keepalive = 0) {
  DesiredPeer p;
  p.public_key = Key(key);
  p.allowed_ips = std::move(ips);
  p.endpoint = std::move(endpoint);
  p.persistent_keepalive = keepalive;
  return p;
}

DesiredDevice Desired(std::vector<DesiredPeer> peers, std::optional<uint8_t> priv = 0x01,
                      std::optional<uint16_t> port = 51820) {
  DesiredDevice d;
  if (priv) d.private_key = SecretBytes(Key(*priv));
  d.listen_port = port;
  d.peers = std::move(peers);
  return d;
}

std::set<std::string> Canon(const std::vector<std::string>& ips) {
  std::set<std::string> s;
  for (const auto& ip : ips) s.insert(*CanonicalCidr(ip));
  return s;
}

// The device state realises `want` (peers, prefixes, keepalive, endpoint
// where desired has one, key and port).
void ExpectRealises(const WgDeviceConfig& got, const DesiredDevice& want) {
  if (want.private_key) {
    ASSERT_TRUE(got.private_key.has_value());
    EXPECT_TRUE(ConstantTimeEqual(got.private_key->view(), want.private_key->view()));
  }
  if (want.listen_port && *want.listen_port) {
    EXPECT_EQ(got.listen_port, want.listen_port);
  }
  std::map<Bytes, const DesiredPeer*> by_key;
  for (const DesiredPeer& p : want.peers) by_key.emplace(p.public_key, &p);
  ASSERT_EQ(got.peers.size(), by_key.size()) << ToString(got);
  for (const WgPeer& p : got.peers) {
    auto it = by_key.find(p.public_key);
    ASSERT_NE(it, by_key.end()) << "unexpected " << ToString(p);
    EXPECT_EQ(Canon(p.allowed_ips), Canon(it->second->allowed_ips)) << ToString(p);
    EXPECT_EQ(p.persistent_keepalive.value_or(0), it->second->persistent_keepalive);
    if (it->second->endpoint) {
      EXPECT_EQ(p.endpoint, *CanonicalEndpoint(*it->second->endpoint));
    }
  }
}

// Applies `want` to the device (from its current state) and checks the
// result; returns the operation that was sent.
WgDeviceConfig Apply(MemoryWgDevice& dev, const DesiredDevice& want,
                     const DesiredDevice& last = DesiredDevice{}) {
  auto cur = dev.Get();
  EXPECT_TRUE(cur.ok());
  WgDeviceConfig op = ComputeApply(*cur, want, last);
  EXPECT_TRUE(dev.Set(op).ok()) << ToString(op);
  auto after = dev.Get();
  EXPECT_TRUE(after.ok());
  ExpectRealises(*after, want);
  // Converged: a second pass sends nothing.
  WgDeviceConfig again = ComputeApply(*after, want, want);
  EXPECT_TRUE(IsNoop(again)) << ToString(again);
  return op;
}

TEST(WgDiff, FromEmptyDevice) {
  MemoryWgDevice dev;
  DesiredDevice want = Desired({Peer(0xa, {"fd00::a/128", "10.0.0.10/32"}, "[fd00:1::a]:51820", 25),
                                Peer(0xb, {"fd00::b/128"})});
  WgDeviceConfig op = Apply(dev, want);
  ASSERT_TRUE(op.private_key.has_value());
  EXPECT_EQ(op.listen_port, 51820);
  EXPECT_FALSE(op.replace_peers);
  ASSERT_EQ(op.peers.size(), 2u);
  EXPECT_EQ(op.peers[0].public_key, Key(0xa));
  EXPECT_EQ(op.peers[0].endpoint, "[fd00:1::a]:51820");
  EXPECT_EQ(op.peers[0].persistent_keepalive, 25);
  EXPECT_EQ(op.peers[0].allowed_ips, (std::vector<std::string>{"fd00::a/128", "10.0.0.10/32"}));
  EXPECT_FALSE(op.peers[0].replace_allowed_ips);
  EXPECT_FALSE(op.peers[1].endpoint.has_value());
  EXPECT_FALSE(op.peers[1].persistent_keepalive.has_value()) << "0 on a new peer is the default";
}

TEST(WgDiff, UnchangedIsNoopEvenWithOtherSpellings) {
  MemoryWgDevice dev;
  DesiredDevice want = Desired({Peer(0xa, {"fd00::a/128"}, "[fd00:1::a]:51820")});
  (void)Apply(dev, want);
  DesiredDevice respelled =
      Desired({Peer(0xa, {"FD00:0::A/128", "fd00::a/128"}, "[FD00:1:0::a]:51820")});
  auto cur = dev.Get();
  ASSERT_TRUE(cur.ok());
  WgDeviceConfig op = ComputeApply(*cur, respelled, want);
  EXPECT_TRUE(IsNoop(op)) << ToString(op);
}

TEST(WgDiff, DeviceFieldsOnlyWhenDifferent) {
  MemoryWgDevice dev;
  (void)Apply(dev, Desired({}, 0x01, 51820));
  auto cur = dev.Get();
  ASSERT_TRUE(cur.ok());
  EXPECT_TRUE(IsNoop(ComputeApply(*cur, Desired({}, 0x01, 51820), {})));
  EXPECT_TRUE(IsNoop(ComputeApply(*cur, Desired({}, std::nullopt, std::nullopt), {})));
  EXPECT_TRUE(IsNoop(ComputeApply(*cur, Desired({}, 0x01, 0), {})))
      << "port 0 means any; the device already has one";
  WgDeviceConfig op = ComputeApply(*cur, Desired({}, 0x02, 51821), {});
  ASSERT_TRUE(op.private_key.has_value());
  EXPECT_TRUE(ConstantTimeEqual(op.private_key->view(), Key(0x02)));
  EXPECT_EQ(op.listen_port, 51821);
  WgDeviceConfig only_port = ComputeApply(*cur, Desired({}, 0x01, 51821), {});
  EXPECT_FALSE(only_port.private_key.has_value());
  EXPECT_EQ(only_port.listen_port, 51821);
}

TEST(WgDiff, RemovedPeerLast) {
  MemoryWgDevice dev;
  (void)Apply(dev, Desired({Peer(0xa, {"fd00::a/128"}), Peer(0xb, {"fd00::b/128"})}));
  WgDeviceConfig op = Apply(dev, Desired({Peer(0xa, {"fd00::a/128"}), Peer(0xc, {"fd00::c/128"})}));
  ASSERT_EQ(op.peers.size(), 2u);
  EXPECT_EQ(op.peers[0].public_key, Key(0xc));
  EXPECT_EQ(op.peers[1].public_key, Key(0xb));
  EXPECT_TRUE(op.peers[1].remove);
  EXPECT_TRUE(op.peers[1].allowed_ips.empty());
  EXPECT_TRUE(dev.transient_ownerless().empty());
}

TEST(WgDiff, GainedPrefixesAreAddedWithoutReplace) {
  MemoryWgDevice dev;
  (void)Apply(dev, Desired({Peer(0xa, {"fd00::a/128"})}));
  WgDeviceConfig op = Apply(dev, Desired({Peer(0xa, {"fd00::a/128", "10.0.0.0/24"})}));
  ASSERT_EQ(op.peers.size(), 1u);
  EXPECT_FALSE(op.peers[0].replace_allowed_ips);
  EXPECT_EQ(op.peers[0].allowed_ips, std::vector<std::string>{"10.0.0.0/24"});
  EXPECT_TRUE(dev.transient_ownerless().empty());
}

TEST(WgDiff, LostPrefixNobodyClaimsReplacesTheFullList) {
  MemoryWgDevice dev;
  (void)Apply(dev, Desired({Peer(0xa, {"fd00::a/128", "10.0.0.0/24"})}));
  WgDeviceConfig op = Apply(dev, Desired({Peer(0xa, {"fd00::a/128", "10.1.0.0/24"})}));
  ASSERT_EQ(op.peers.size(), 2u) << ToString(op);
  // Phase 1: the gain alone; phase 2: replace with the full list.
  EXPECT_FALSE(op.peers[0].replace_allowed_ips);
  EXPECT_EQ(op.peers[0].allowed_ips, std::vector<std::string>{"10.1.0.0/24"});
  EXPECT_EQ(op.peers[1].public_key, Key(0xa));
  EXPECT_TRUE(op.peers[1].replace_allowed_ips);
  EXPECT_TRUE(op.peers[1].update_only);
  EXPECT_EQ(op.peers[1].allowed_ips, (std::vector<std::string>{"fd00::a/128", "10.1.0.0/24"}));
  // The known cost: the kept prefix is dropped and re-added within the set
  // (10.1.0.0/24 had no owner before, so it does not count).
  EXPECT_EQ(dev.transient_ownerless(), std::vector<std::string>{"fd00::a/128"});
}

TEST(WgDiff, PrefixMovesGainerFirstNoReplaceOnLoser) {
  MemoryWgDevice dev;
  (void)Apply(dev,
              Desired({Peer(0xa, {"fd00::a/128", "10.0.0.0/24"}), Peer(0xb, {"fd00::b/128"})}));
  WgDeviceConfig op =
      Apply(dev, Desired({Peer(0xa, {"fd00::a/128"}), Peer(0xb, {"fd00::b/128", "10.0.0.0/24"})}));
  ASSERT_EQ(op.peers.size(), 1u) << ToString(op);
  EXPECT_EQ(op.peers[0].public_key, Key(0xb));
  EXPECT_FALSE(op.peers[0].replace_allowed_ips);
  EXPECT_EQ(op.peers[0].allowed_ips, std::vector<std::string>{"10.0.0.0/24"});
  EXPECT_TRUE(dev.transient_ownerless().empty()) << "the move is one atomic insert";
}

TEST(WgDiff, KeyRotationNewEntryClaimsPrefixBeforeOldIsRemoved) {
  MemoryWgDevice dev;
  DesiredDevice before =
      Desired({Peer(0xa, {"fd00::a/128"}, "[fd00:1::a]:51820", 25), Peer(0xb, {"fd00::b/128"})});
  (void)Apply(dev, before);
  DesiredDevice after =
      Desired({Peer(0xa2, {"fd00::a/128"}, "[fd00:1::a]:51820", 25), Peer(0xb, {"fd00::b/128"})});
  WgDeviceConfig op = Apply(dev, after, before);
  ASSERT_EQ(op.peers.size(), 2u) << ToString(op);
  EXPECT_EQ(op.peers[0].public_key, Key(0xa2));
  EXPECT_EQ(op.peers[0].allowed_ips, std::vector<std::string>{"fd00::a/128"});
  EXPECT_EQ(op.peers[0].persistent_keepalive, 25) << "turning keepalive on sends one at once";
  EXPECT_EQ(op.peers[1].public_key, Key(0xa));
  EXPECT_TRUE(op.peers[1].remove);
  EXPECT_TRUE(dev.transient_ownerless().empty());
  EXPECT_EQ(dev.keepalives_sent(), std::vector<Bytes>{Key(0xa2)});
}

// Without a persistent keepalive the new entry of a rotated key is made to
// send one anyway (else its handshake waits for the other side's 5 s
// retry); a new member claiming a free prefix is not.
TEST(WgDiff, KeyRotationWithoutPersistentKeepaliveStillSendsOne) {
  MemoryWgDevice dev;
  DesiredDevice before = Desired({Peer(0xa, {"fd00::a/128"}, "[fd00:1::a]:51820")});
  (void)Apply(dev, before);
  EXPECT_TRUE(dev.keepalives_sent().empty());
  DesiredDevice after = Desired({Peer(0xa2, {"fd00::a/128"}, "[fd00:1::a]:51820"),
                                 Peer(0xc, {"fd00::c/128"}, "[fd00:1::c]:1")});
  WgDeviceConfig op = Apply(dev, after, before);
  EXPECT_EQ(dev.keepalives_sent(), std::vector<Bytes>{Key(0xa2)}) << ToString(op);
  EXPECT_EQ(dev.Get()->peers[1].persistent_keepalive, 0) << "left off";
  EXPECT_TRUE(dev.transient_ownerless().empty());
  ASSERT_FALSE(op.peers.empty());
  EXPECT_TRUE(op.peers.back().remove) << "the old entry still goes last: " << ToString(op);
}

TEST(WgMemoryDevice, KeepaliveNowSendsOneAndKeepsTheSetting) {
  MemoryWgDevice dev;
  ASSERT_TRUE(dev.Set(ComputeApply({},
                                   Desired({Peer(1, {"fd00::1/128"}, std::nullopt, 25),
                                            Peer(2, {"fd00::2/128"})}),
                                   {}))
                  .ok());
  WgDeviceConfig kick;
  AppendKeepaliveNow(kick, Key(1), 25);
  AppendKeepaliveNow(kick, Key(2), 0);
  AppendKeepaliveNow(kick, Key(3), 0);  // not on the device
  auto text = FormatUapiSet(kick);
  ASSERT_TRUE(text.ok()) << text.error().ToString();
  EXPECT_NE(text->find("persistent_keepalive_interval=0\npublic_key=" + HexEncode(Key(1)) +
                       "\nupdate_only=true\npersistent_keepalive_interval=25\n"),
            std::string::npos)
      << *text;
  ASSERT_TRUE(dev.Set(kick).ok());
  EXPECT_EQ(dev.keepalives_sent(), (std::vector<Bytes>{Key(1), Key(2)}));
  auto got = dev.Get();
  ASSERT_EQ(got->peers.size(), 2u) << "update_only creates nothing";
  EXPECT_EQ(got->peers[0].persistent_keepalive, 25);
  EXPECT_EQ(got->peers[1].persistent_keepalive, 0);
  EXPECT_EQ(got->peers[0].allowed_ips, std::vector<std::string>{"fd00::1/128"});
}

TEST(WgDiff, SwapBetweenPeersIsTwoAtomicMoves) {
  MemoryWgDevice dev;
  (void)Apply(dev, Desired({Peer(0xa, {"10.0.0.1/32"}), Peer(0xb, {"10.0.0.2/32"})}));
  WgDeviceConfig op = Apply(dev, Desired({Peer(0xa, {"10.0.0.2/32"}), Peer(0xb, {"10.0.0.1/32"})}));
  ASSERT_EQ(op.peers.size(), 2u);
  for (const WgPeer& p : op.peers) EXPECT_FALSE(p.replace_allowed_ips);
  // Both prefixes had an owner at every step.
  EXPECT_TRUE(dev.transient_ownerless().empty());
}

TEST(WgDiff, PrefixFromRemovedPeerMovesBeforeRemoval) {
  MemoryWgDevice dev;
  (void)Apply(dev, Desired({Peer(0xa, {"10.0.0.0/24"}), Peer(0xb, {"10.1.0.0/24"})}));
  WgDeviceConfig op = Apply(dev, Desired({Peer(0xb, {"10.1.0.0/24", "10.0.0.0/24"})}));
  ASSERT_EQ(op.peers.size(), 2u);
  EXPECT_EQ(op.peers[0].public_key, Key(0xb));
  EXPECT_TRUE(op.peers[1].remove);
  EXPECT_TRUE(dev.transient_ownerless().empty());
}

TEST(WgDiff, EndpointRespectsRoaming) {
  MemoryWgDevice dev;
  DesiredDevice v1 = Desired({Peer(0xa, {"fd00::a/128"}, "[fd00:1::a]:51820")});
  (void)Apply(dev, v1);
  ASSERT_TRUE(dev.SetLearnedEndpoint(Key(0xa), "[fd00:9::9]:4242"));  // peer roamed
  auto cur = dev.Get();
  ASSERT_TRUE(cur.ok());
  // Config unchanged since last apply: the learned endpoint stays.
  EXPECT_TRUE(IsNoop(ComputeApply(*cur, v1, v1)));
  // No memory of the last apply: the configured endpoint is treated as new.
  WgDeviceConfig fresh = ComputeApply(*cur, v1, DesiredDevice{});
  ASSERT_EQ(fresh.peers.size(), 1u);
  EXPECT_EQ(fresh.peers[0].endpoint, "[fd00:1::a]:51820");
  // The config changed the endpoint: sent, even over the learned one.
  DesiredDevice v2 = Desired({Peer(0xa, {"fd00::a/128"}, "[fd00:2::a]:51820")});
  WgDeviceConfig op = ComputeApply(*cur, v2, v1);
  ASSERT_EQ(op.peers.size(), 1u);
  EXPECT_EQ(op.peers[0].endpoint, "[fd00:2::a]:51820");
  EXPECT_TRUE(op.peers[0].allowed_ips.empty());
  // Config changed to exactly what the device has: nothing to send.
  DesiredDevice v3 = Desired({Peer(0xa, {"fd00::a/128"}, "[FD00:9::9]:4242")});
  EXPECT_TRUE(IsNoop(ComputeApply(*cur, v3, v1)));
  // Desired without endpoint never touches it.
  DesiredDevice v4 = Desired({Peer(0xa, {"fd00::a/128"})});
  EXPECT_TRUE(IsNoop(ComputeApply(*cur, v4, v1)));
}

TEST(WgDiff, EndpointSentWhenDeviceHasNone) {
  MemoryWgDevice dev;
  (void)Apply(dev, Desired({Peer(0xa, {"fd00::a/128"})}));
  DesiredDevice v = Desired({Peer(0xa, {"fd00::a/128"}, "10.0.0.1:51820")});
  auto cur = dev.Get();
  ASSERT_TRUE(cur.ok());
  WgDeviceConfig op = ComputeApply(*cur, v, v);  // even if last_applied already had it
  ASSERT_EQ(op.peers.size(), 1u);
  EXPECT_EQ(op.peers[0].endpoint, "10.0.0.1:51820");
}

TEST(WgDiff, KeepaliveChanges) {
  MemoryWgDevice dev;
  (void)Apply(dev, Desired({Peer(0xa, {"fd00::a/128"}, std::nullopt, 25)}));
  WgDeviceConfig op = Apply(dev, Desired({Peer(0xa, {"fd00::a/128"}, std::nullopt, 0)}));
  ASSERT_EQ(op.peers.size(), 1u);
  EXPECT_EQ(op.peers[0].persistent_keepalive, 0);
  EXPECT_TRUE(op.peers[0].allowed_ips.empty());
  EXPECT_FALSE(op.peers[0].endpoint.has_value());
}

TEST(WgDiff, DuplicateDesiredPeerFirstWins) {
  MemoryWgDevice dev;
  DesiredDevice want = Desired({Peer(0xa, {"10.0.0.1/32"}), Peer(0xa, {"10.0.0.2/32"})});
  auto cur = dev.Get();
  ASSERT_TRUE(cur.ok());
  WgDeviceConfig op = ComputeApply(*cur, want, {});
  ASSERT_EQ(op.peers.size(), 1u);
  EXPECT_EQ(op.peers[0].allowed_ips, std::vector<std::string>{"10.0.0.1/32"});
}

TEST(WgDiff, InvalidDesiredFailsAtSet) {
  MemoryWgDevice dev;
  auto cur = dev.Get();
  ASSERT_TRUE(cur.ok());
  WgDeviceConfig op = ComputeApply(*cur, Desired({Peer(0xa, {"10.0.0.300/32"})}), {});
  Status s = dev.Set(op);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "wg_config_invalid");
  EXPECT_TRUE(dev.Get()->peers.empty()) << "nothing applied";
}

TEST(WgMemoryDevice, ModelsUapiFlags) {
  MemoryWgDevice dev;
  WgDeviceConfig c;
  WgPeer ghost;
  ghost.public_key = Key(9);
  ghost.update_only = true;
  ghost.allowed_ips = {"10.0.0.0/8"};
  c.peers.push_back(std::move(ghost));
  ASSERT_TRUE(dev.Set(c).ok());
  EXPECT_TRUE(dev.Get()->peers.empty()) << "update_only does not create";
  dev.FailNextSet(MakeError(Code::kInternal, "wg_errno", "device returned errno=-22"));
  c.peers[0].update_only = false;
  EXPECT_FALSE(dev.Set(c).ok());
  EXPECT_TRUE(dev.Set(c).ok());
  EXPECT_EQ(dev.Get()->peers.size(), 1u);
  EXPECT_EQ(dev.set_calls(), 3);
  WgDeviceConfig wipe;
  wipe.replace_peers = true;
  ASSERT_TRUE(dev.Set(wipe).ok());
  EXPECT_TRUE(dev.Get()->peers.empty());
}

// Random transitions between random states: the result always realises the
// desired state, converges, and only phase-2 peers' kept prefixes are ever
// transiently ownerless.
TEST(WgDiff, RandomTransitionsConverge) {
  std::mt19937 rng(42);
  const std::vector<std::string> pool = {"10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24",
                                         "fd00::1/128", "fd00::2/128", "fd00::3/128",
                                         "fd00:1::/64", "10.9.9.9/32"};
  auto random_state = [&]() {
    std::vector<DesiredPeer> peers;
    std::vector<std::string> ips = pool;
    std::shuffle(ips.begin(), ips.end(), rng);
    size_t next = 0;
    for (uint8_t k = 1; k <= 5; ++k) {
      if (rng() % 3 == 0) continue;
      DesiredPeer p = Peer(k, {});
      size_t n = rng() % 3;
      for (size_t i = 0; i < n && next < ips.size(); ++i) p.allowed_ips.push_back(ips[next++]);
      if (rng() % 2) p.endpoint = "10.0.0." + std::to_string(rng() % 3 + 1) + ":51820";
      p.persistent_keepalive = static_cast<uint16_t>(rng() % 2 ? 25 : 0);
      peers.push_back(std::move(p));
    }
    return Desired(std::move(peers), static_cast<uint8_t>(1 + rng() % 2),
                   static_cast<uint16_t>(51820 + rng() % 2));
  };
  for (int round = 0; round < 300; ++round) {
    MemoryWgDevice dev;
    DesiredDevice a = random_state();
    (void)Apply(dev, a);
    DesiredDevice b = random_state();
    WgDeviceConfig op = Apply(dev, b, a);
    std::set<std::string> allowed_transient;
    for (const WgPeer& p : op.peers) {
      if (p.replace_allowed_ips)
        allowed_transient.insert(p.allowed_ips.begin(), p.allowed_ips.end());
    }
    for (const std::string& ip : dev.transient_ownerless()) {
      EXPECT_TRUE(allowed_transient.count(ip)) << ip << " in\n" << ToString(op);
    }
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace tpmesh::wg
