#include "tpmesh/meshcfg/meshcfg.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <set>

namespace tpmesh::meshcfg {
namespace {

using nlohmann::json;

struct KeyPair {
  Bytes pk = Bytes(crypto_sign_PUBLICKEYBYTES);
  Bytes sk = Bytes(crypto_sign_SECRETKEYBYTES);
  KeyPair() {
    EXPECT_GE(sodium_init(), 0);
    crypto_sign_keypair(pk.data(), sk.data());
  }
};

Bytes Filled(uint8_t v, size_t n = 32) { return Bytes(n, v); }

Bytes RandomBytes(std::mt19937_64& rng, size_t n = 32) {
  Bytes b(n);
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  return b;
}

// Member number `i`; `salt` varies the mutable fields.
MeshMember MakeMember(int i, std::mt19937_64& rng) {
  char id[32];
  std::snprintf(id, sizeof id, "%020x", i * 2654435761u);
  MeshMember m;
  m.node_id = id;
  m.hostname = "node-" + std::to_string(i);
  m.wg_public_key = RandomBytes(rng);
  m.endpoints = {"192.0." + std::to_string(i % 256) + "." + std::to_string(rng() % 250 + 1) +
                 ":51820"};
  if (rng() % 2) m.endpoints.push_back("[2001:db8::" + std::to_string(i % 9000 + 1) + "]:51820");
  char prefix[64];
  std::snprintf(prefix, sizeof prefix, "fd12:3456:789a:%x::/64", i + 1);
  m.allowed_ips = {prefix};
  m.persistent_keepalive = static_cast<int>(rng() % 2) * 25;
  if (rng() % 4 == 0) m.next_wg_public_key = RandomBytes(rng);
  return m;
}

MeshState MakeState(int n, std::mt19937_64& rng, int64_t generation = 7) {
  MeshState s;
  s.generation = generation;
  s.mesh_prefix = "fd12:3456:789a::/48";
  s.mtu = 1420;
  for (int i = 0; i < n; ++i) s.members.push_back(MakeMember(i, rng));
  SortMembers(s);
  return s;
}

// The small state whose encoding the header documents (see Golden test).
MeshState GoldenState() {
  MeshMember a{"aaaa",
               "node-a",
               Filled(1),
               {"[2001:db8::1]:51820", "192.0.2.1:51820"},
               {"fd12:3456:789a:1::/64"},
               0,
               Filled(3)};
  MeshMember b{"bbbb", "node-b",    Filled(2), {"192.0.2.2:51820"}, {"fd12:3456:789a:2::/64"},
               25,     std::nullopt};
  return MeshState{7, "fd12:3456:789a::/48", 1420, {b, a}, {}};  // deliberately unsorted
}

void PutU32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
void PutI64(Bytes& out, int64_t v) {
  for (int s = 56; s >= 0; s -= 8)
    out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(v) >> s));
}
void PutStr(Bytes& out, std::string_view s) {
  PutU32(out, static_cast<uint32_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}
void PutBin(Bytes& out, const Bytes& b) {
  PutU32(out, static_cast<uint32_t>(b.size()));
  out.insert(out.end(), b.begin(), b.end());
}

// ---------------------------------------------------------------- encoding

TEST(MeshCfgEncoding, GoldenBytesFollowTheDocumentedFormat) {
  Bytes want;
  PutStr(want, "tpmesh-meshcfg-state-v1");
  PutI64(want, 7);
  PutStr(want, "fd12:3456:789a::/48");
  PutI64(want, 1420);
  PutU32(want, 2);
  // member "aaaa" first (sorted by node id)
  PutStr(want, "aaaa");
  PutStr(want, "node-a");
  PutBin(want, Filled(1));
  PutU32(want, 2);
  PutStr(want, "[2001:db8::1]:51820");
  PutStr(want, "192.0.2.1:51820");
  PutU32(want, 1);
  PutStr(want, "fd12:3456:789a:1::/64");
  PutI64(want, 0);
  want.push_back(1);
  PutBin(want, Filled(3));
  // member "bbbb"
  PutStr(want, "bbbb");
  PutStr(want, "node-b");
  PutBin(want, Filled(2));
  PutU32(want, 1);
  PutStr(want, "192.0.2.2:51820");
  PutU32(want, 1);
  PutStr(want, "fd12:3456:789a:2::/64");
  PutI64(want, 25);
  want.push_back(0);

  EXPECT_EQ(CanonicalEncoding(GoldenState()), want);
  // Independently computed (Python hashlib over the same documented layout).
  EXPECT_EQ(HexEncode(StateHash(GoldenState())),
            "8022412a52f5f847c835c630102ca0892fd2b324b9b0b2d20d5b8c2c1343ac20");
}

TEST(MeshCfgEncoding, StableUnderMemberPermutations) {
  std::mt19937_64 rng(42);
  MeshState s = MakeState(50, rng);
  const Bytes enc = CanonicalEncoding(s);
  const Bytes hash = StateHash(s);
  ASSERT_EQ(hash.size(), 32u);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(s.members.begin(), s.members.end(), rng);
    EXPECT_EQ(CanonicalEncoding(s), enc);
    EXPECT_EQ(StateHash(s), hash);
  }
}

TEST(MeshCfgEncoding, EveryFieldChangeChangesTheHash) {
  std::mt19937_64 rng(7);
  const MeshState base = MakeState(3, rng);
  ASSERT_TRUE(ValidateState(base).ok());
  std::vector<std::pair<std::string, std::function<void(MeshState&)>>> mutations = {
      {"generation", [](MeshState& s) { s.generation++; }},
      {"mesh_prefix", [](MeshState& s) { s.mesh_prefix = "fd12:3456:789b::/48"; }},
      {"mtu", [](MeshState& s) { s.mtu = 1380; }},
      {"node_id", [](MeshState& s) { s.members[1].node_id += "0"; }},
      {"hostname", [](MeshState& s) { s.members[1].hostname += "x"; }},
      {"wg_public_key", [](MeshState& s) { s.members[1].wg_public_key[31] ^= 1; }},
      {"endpoint value", [](MeshState& s) { s.members[1].endpoints[0] = "198.51.100.1:51820"; }},
      {"endpoint added", [](MeshState& s) { s.members[1].endpoints.push_back("198.51.100.1:1"); }},
      {"allowed_ip value", [](MeshState& s) { s.members[1].allowed_ips[0] = "10.0.0.0/8"; }},
      {"allowed_ip added", [](MeshState& s) { s.members[1].allowed_ips.push_back("10.0.0.0/8"); }},
      {"keepalive", [](MeshState& s) { s.members[1].persistent_keepalive += 1; }},
      {"next key set", [](MeshState& s) { s.members[1].next_wg_public_key = Filled(9); }},
      {"member removed", [](MeshState& s) { s.members.pop_back(); }},
      {"member added", [&rng](MeshState& s) { s.members.push_back(MakeMember(99, rng)); }},
  };
  std::set<Bytes> seen = {StateHash(base)};
  for (auto& [name, mutate] : mutations) {
    MeshState s = base;
    s.members[1].next_wg_public_key.reset();
    MeshState s0 = s;
    mutate(s);
    EXPECT_NE(StateHash(s), StateHash(s0)) << name;
    EXPECT_TRUE(seen.insert(StateHash(s)).second) << name << " collided with another mutation";
  }
  // next_wg_public_key present with a different value.
  MeshState a = base, b = base;
  a.members[0].next_wg_public_key = Filled(4);
  b.members[0].next_wg_public_key = Filled(5);
  EXPECT_NE(StateHash(a), StateHash(b));
  // Endpoint order is data (preference order).
  a = base;
  b = base;
  a.members[0].endpoints = {"192.0.2.1:1", "192.0.2.2:1"};
  b.members[0].endpoints = {"192.0.2.2:1", "192.0.2.1:1"};
  EXPECT_NE(StateHash(a), StateHash(b));
}

TEST(MeshCfgEncoding, LengthPrefixesPreventBoundaryShifts) {
  MeshState a = GoldenState(), b = GoldenState();
  a.members[0].endpoints = {"192.0.2.1:5", "1820"};
  b.members[0].endpoints = {"192.0.2.1:51", "820"};
  EXPECT_NE(StateHash(a), StateHash(b));
  a = GoldenState();
  b = GoldenState();
  a.members[0].hostname = "node-bx";
  b.members[0].hostname = "node-b";
  b.members[0].node_id = "bbbbx";  // "bbbb"+"node-bx" vs "bbbbx"+"node-b"
  EXPECT_NE(StateHash(a), StateHash(b));
}

// Two members with one WireGuard key (current or next), or one prefix: a
// peer would configure a single entry for both. Refused loudly when signing
// (the authority's config builder) and when verifying (the node).
TEST(MeshCfgValidate, RefusesMembersThatShareAKeyOrAPrefix) {
  struct Case {
    const char* name;
    void (*mutate)(MeshState&);
    const char* says;
  };
  const Case cases[] = {
      {"same current key",
       [](MeshState& s) { s.members[1].wg_public_key = s.members[0].wg_public_key; },
       "share WireGuard key"},
      {"next key is another's current",
       [](MeshState& s) { s.members[1].next_wg_public_key = s.members[0].wg_public_key; },
       "share WireGuard key"},
      {"same next key",
       [](MeshState& s) {
         s.members[0].next_wg_public_key = Filled(9);
         s.members[1].next_wg_public_key = Filled(9);
       },
       "share WireGuard key"},
      {"same prefix", [](MeshState& s) { s.members[1].allowed_ips = s.members[0].allowed_ips; },
       "both route fd12:3456:789a:"},
  };
  Bytes sk(64), pk(32);
  crypto_sign_keypair(pk.data(), sk.data());
  for (const auto& c : cases) {
    MeshState s = GoldenState();
    ASSERT_TRUE(ValidateState(s).ok()) << c.name;
    c.mutate(s);
    auto v = ValidateState(s);
    ASSERT_FALSE(v.ok()) << c.name;
    EXPECT_NE(v.error().message.find(c.says), std::string::npos)
        << c.name << ": " << v.error().message;
    EXPECT_NE(v.error().message.find("aaaa"), std::string::npos) << v.error().message;
    EXPECT_FALSE(SignState(s, sk, {}).ok()) << c.name;
  }
  // A member's own next key equal to its current one is its own business.
  MeshState own = GoldenState();
  own.members[0].next_wg_public_key = own.members[0].wg_public_key;
  EXPECT_TRUE(ValidateState(own).ok());
}

TEST(MeshCfgValidate, RejectsBadFieldsNamingThem) {
  MeshState s = GoldenState();
  ASSERT_TRUE(ValidateState(s).ok());
  auto expect_bad = [](MeshState st, const std::string& needle) {
    auto r = ValidateState(st);
    ASSERT_FALSE(r.ok()) << needle;
    EXPECT_EQ(r.error().reason, "invalid_mesh_config");
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  MeshState t = s;
  t.members[1].node_id = "bbbb";
  expect_bad(t, "node id 'bbbb' appears more than once");
  t = s;
  t.members[0].wg_public_key.pop_back();
  expect_bad(t, "members[0].wg_public_key");
  t = s;
  t.members[1].endpoints[0] = "192.0.2.1";
  expect_bad(t, "members[1].endpoints[0]");
  t = s;
  t.members[1].allowed_ips[0] = "fd12::/129";
  expect_bad(t, "members[1].allowed_ips[0]");
  t = s;
  t.mtu = 1279;
  expect_bad(t, "mtu");
  t = s;
  t.mesh_prefix = "nonsense";
  expect_bad(t, "mesh_prefix");
  t = s;
  t.members[0].node_id = "a b";
  expect_bad(t, "members[0].node_id");
  t = s;
  t.members[0].next_wg_public_key = Filled(1, 31);
  expect_bad(t, "members[0].next_wg_public_key");
  t = s;
  t.generation = -1;
  expect_bad(t, "generation");
}

TEST(MeshCfgView, PeersOfIsEveryoneButSelf) {
  std::mt19937_64 rng(3);
  MeshState s = MakeState(5, rng);
  auto peers = PeersOf(s, s.members[2].node_id);
  ASSERT_EQ(peers.size(), 4u);
  for (const auto& p : peers) EXPECT_NE(p.node_id, s.members[2].node_id);
  EXPECT_EQ(peers[2], s.members[3]);
  EXPECT_EQ(PeersOf(s, "not-a-member").size(), 5u);
}

// ---------------------------------------------------------------- signing

TEST(MeshCfgSign, SignVerifyAndRefusals) {
  KeyPair k, other;
  std::mt19937_64 rng(1);
  MeshState s = MakeState(4, rng);
  Bytes hash = StateHash(s);
  auto sig = SignHash(hash, s.generation, k.sk);
  ASSERT_TRUE(sig.ok()) << sig.error().ToString();
  ASSERT_EQ(sig->size(), 64u);

  EXPECT_TRUE(VerifySigned(hash, s.generation, *sig, {k.pk}).ok());
  // Rotation overlap: any trusted key may verify.
  EXPECT_TRUE(VerifySigned(hash, s.generation, *sig, {other.pk, k.pk}).ok());

  auto refused = [](const Status& st, const std::string& reason) {
    ASSERT_FALSE(st.ok()) << reason;
    EXPECT_EQ(st.error().reason, reason);
  };
  refused(VerifySigned(hash, s.generation, *sig, {other.pk}), "config_signature_invalid");
  refused(VerifySigned(hash, s.generation + 1, *sig, {k.pk}), "config_signature_invalid");
  refused(VerifySigned(hash, s.generation - 1, *sig, {k.pk}), "config_signature_invalid");
  Bytes flipped = hash;
  for (size_t i : {size_t{0}, size_t{17}, size_t{31}}) {
    flipped = hash;
    flipped[i] ^= 0x01;
    refused(VerifySigned(flipped, s.generation, *sig, {k.pk}), "config_signature_invalid");
  }
  Bytes bad_sig = *sig;
  bad_sig[10] ^= 0x80;
  refused(VerifySigned(hash, s.generation, bad_sig, {k.pk}), "config_signature_invalid");
  refused(VerifySigned(hash, s.generation, Bytes(63), {k.pk}), "config_signature_invalid");
  refused(VerifySigned(hash, s.generation, *sig, {}), "no_trusted_keys");
  refused(VerifySigned(hash, s.generation, *sig, {Bytes(31)}), "config_signature_invalid");
  EXPECT_FALSE(VerifySigned(Bytes(31), s.generation, *sig, {k.pk}).ok());

  auto bad_key = SignHash(hash, s.generation, Bytes(32));
  ASSERT_FALSE(bad_key.ok());
  EXPECT_EQ(bad_key.error().reason, "invalid_signing_key");
  EXPECT_FALSE(SignHash(Bytes(31), s.generation, k.sk).ok());
  EXPECT_FALSE(SignHash(hash, -1, k.sk).ok());
}

TEST(MeshCfgSign, SignedStateFullPath) {
  KeyPair k, other;
  std::mt19937_64 rng(2);
  MeshState s = MakeState(6, rng, 10);
  std::reverse(s.members.begin(), s.members.end());
  auto signed_state = SignState(s, k.sk);
  ASSERT_TRUE(signed_state.ok()) << signed_state.error().ToString();
  EXPECT_EQ(signed_state->signer_public_key, k.pk);
  EXPECT_TRUE(std::is_sorted(signed_state->state.members.begin(), signed_state->state.members.end(),
                             [](auto& a, auto& b) { return a.node_id < b.node_id; }));

  auto ok = VerifySignedState(*signed_state, 9, {k.pk});
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(StateHash(*ok), StateHash(s));
  EXPECT_TRUE(VerifySignedState(*signed_state, -1, {k.pk}).ok());

  auto stale = VerifySignedState(*signed_state, 10, {k.pk});
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().reason, "stale_generation");

  SignedState tampered = *signed_state;
  tampered.state.members[0].endpoints = {"203.0.113.66:51820"};
  auto t = VerifySignedState(tampered, 9, {k.pk});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().reason, "config_hash_mismatch");

  auto wrong = VerifySignedState(*signed_state, 9, {other.pk});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().reason, "config_signature_invalid");

  // Replaying the signature with a bumped generation does not verify.
  SignedState bumped = *signed_state;
  bumped.state.generation = 11;
  bumped.hash = StateHash(bumped.state);
  auto b = VerifySignedState(bumped, 9, {k.pk});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().reason, "config_signature_invalid");

  MeshState invalid = s;
  invalid.mtu = 10;
  EXPECT_FALSE(SignState(invalid, k.sk).ok());
}

// ---------------------------------------------------------------- deltas

// A random successor of `from`: drops, changes and adds members.
MeshState RandomSuccessor(const MeshState& from, std::mt19937_64& rng, int& next_index) {
  MeshState to;
  to.generation = from.generation + 1 + static_cast<int64_t>(rng() % 3);
  to.mesh_prefix = rng() % 10 == 0 ? "fd00:1::/48" : from.mesh_prefix;
  to.mtu = rng() % 10 == 0 ? 1380 : from.mtu;
  for (const auto& m : from.members) {
    switch (rng() % 6) {
      case 0: break;  // removed
      case 1: {
        MeshMember c = m;
        c.endpoints = {"198.51.100." + std::to_string(rng() % 250 + 1) + ":51820"};
        to.members.push_back(c);
        break;
      }
      case 2: {
        MeshMember c = m;
        c.next_wg_public_key = RandomBytes(rng);
        to.members.push_back(c);
        break;
      }
      default: to.members.push_back(m);
    }
  }
  for (int i = static_cast<int>(rng() % 4); i > 0; --i)
    to.members.push_back(MakeMember(next_index++, rng));
  std::shuffle(to.members.begin(), to.members.end(), rng);
  return to;
}

TEST(MeshCfgDelta, DiffApplyRoundTripRandomStates) {
  KeyPair k;
  std::mt19937_64 rng(20240607);
  for (int iter = 0; iter < 200; ++iter) {
    int next_index = 1000;
    MeshState from =
        MakeState(static_cast<int>(rng() % 30), rng, static_cast<int64_t>(rng() % 100));
    std::shuffle(from.members.begin(), from.members.end(), rng);
    MeshState to = RandomSuccessor(from, rng, next_index);
    ASSERT_TRUE(ValidateState(to).ok());

    MeshDelta d = Diff(from, to);
    EXPECT_EQ(d.from_generation, from.generation);
    EXPECT_EQ(d.to_generation, to.generation);
    EXPECT_EQ(d.to_hash, StateHash(to));
    EXPECT_TRUE(std::is_sorted(d.removals.begin(), d.removals.end()));
    EXPECT_LE(d.upserts.size(), to.members.size());

    auto applied = ApplyDelta(from, d);
    ASSERT_TRUE(applied.ok()) << applied.error().ToString();
    MeshState want = to;
    SortMembers(want);
    EXPECT_EQ(*applied, want) << "iteration " << iter;

    auto sig = SignHash(d.to_hash, d.to_generation, k.sk);
    ASSERT_TRUE(sig.ok());
    d.signature = *sig;
    auto verified = ApplyAndVerify(from, d, {k.pk});
    ASSERT_TRUE(verified.ok()) << verified.error().ToString();
    EXPECT_EQ(*verified, want);

    // JSON transport in between changes nothing.
    auto parsed = ParseMeshDelta(ToJson(d));
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    EXPECT_EQ(*parsed, d);
  }
}

TEST(MeshCfgDelta, UnchangedMembersAreNotResent) {
  std::mt19937_64 rng(5);
  MeshState from = MakeState(10, rng);
  MeshState to = from;
  to.generation++;
  MeshDelta d = Diff(from, to);
  EXPECT_TRUE(d.upserts.empty());
  EXPECT_TRUE(d.removals.empty());
  to.members[3].persistent_keepalive = 7;
  to.members.erase(to.members.begin() + 5);
  d = Diff(from, to);
  ASSERT_EQ(d.upserts.size(), 1u);
  EXPECT_EQ(d.upserts[0].node_id, from.members[3].node_id);
  ASSERT_EQ(d.removals.size(), 1u);
  EXPECT_EQ(d.removals[0], from.members[5].node_id);
}

struct SignedDeltaFixture {
  KeyPair k;
  std::mt19937_64 rng{11};
  MeshState base, target;
  MeshDelta d;
  SignedDeltaFixture() {
    base = MakeState(8, rng, 5);
    int next = 500;
    target = RandomSuccessor(base, rng, next);
    target.generation = 6;
    d = Diff(base, target);
    d.signature = *SignHash(d.to_hash, d.to_generation, k.sk);
  }
};

TEST(MeshCfgDelta, StaleGenerationRefused) {
  SignedDeltaFixture f;
  auto next = ApplyAndVerify(f.base, f.d, {f.k.pk});
  ASSERT_TRUE(next.ok()) << next.error().ToString();
  // Replaying the same delta on the new state.
  auto replay = ApplyAndVerify(*next, f.d, {f.k.pk});
  ASSERT_FALSE(replay.ok());
  EXPECT_EQ(replay.error().reason, "stale_generation");
  // A correctly signed delta whose target is not newer than what is held.
  MeshState older = f.base;
  older.generation = 3;
  MeshDelta back = Diff(f.base, older);
  back.signature = *SignHash(back.to_hash, back.to_generation, f.k.sk);
  auto r = ApplyAndVerify(f.base, back, {f.k.pk});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "stale_generation");
  EXPECT_EQ(r.error().code, Code::kFailedPrecondition);
  MeshDelta same = f.d;
  same.to_generation = f.base.generation;
  auto s = ApplyDelta(f.base, same);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().reason, "stale_generation");
}

TEST(MeshCfgDelta, GenerationGapRefused) {
  SignedDeltaFixture f;
  MeshState behind = f.base;
  behind.generation = 4;  // missed generation 5
  auto r = ApplyAndVerify(behind, f.d, {f.k.pk});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "generation_gap");
  MeshDelta skip = f.d;
  skip.from_generation = 7;
  skip.to_generation = 8;
  auto r2 = ApplyDelta(f.base, skip);
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().reason, "generation_gap");
}

TEST(MeshCfgDelta, TamperedOrUnsignedDeltaRefused) {
  SignedDeltaFixture f;
  KeyPair other;
  auto wrong_key = ApplyAndVerify(f.base, f.d, {other.pk});
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_EQ(wrong_key.error().reason, "config_signature_invalid");

  MeshDelta tampered = f.d;
  tampered.upserts.push_back(MakeMember(777, f.rng));  // smuggled-in member, hash unchanged
  auto t = ApplyAndVerify(f.base, tampered, {f.k.pk});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.error().reason, "config_hash_mismatch");

  MeshDelta rehashed = tampered;  // hash recomputed, but the signature is over the old one
  rehashed.to_hash = *[&]() -> Result<Bytes> {
    TPMESH_ASSIGN_OR_RETURN(MeshState s, ApplyDelta(f.base, tampered));
    return StateHash(s);
  }();
  auto rh = ApplyAndVerify(f.base, rehashed, {f.k.pk});
  ASSERT_FALSE(rh.ok());
  EXPECT_EQ(rh.error().reason, "config_signature_invalid");

  MeshDelta wrong_gen = f.d;  // signature is bound to generation 6
  wrong_gen.to_generation = 9;
  auto wg = ApplyAndVerify(f.base, wrong_gen, {f.k.pk});
  ASSERT_FALSE(wg.ok());
  EXPECT_EQ(wg.error().reason, "config_hash_mismatch");  // generation is hashed too

  MeshDelta unsigned_delta = f.d;
  unsigned_delta.signature.clear();
  EXPECT_FALSE(ApplyAndVerify(f.base, unsigned_delta, {f.k.pk}).ok());
}

TEST(MeshCfgDelta, InconsistentDeltasRefused) {
  SignedDeltaFixture f;
  MeshDelta d = f.d;
  d.removals = {"not-a-member"};
  auto r = ApplyDelta(f.base, d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "delta_inconsistent");
  EXPECT_NE(r.error().message.find("not-a-member"), std::string::npos);

  d = f.d;
  d.removals = {f.base.members[0].node_id};
  d.upserts = {f.base.members[0]};
  r = ApplyDelta(f.base, d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "delta_inconsistent");

  d = f.d;
  d.upserts = {f.base.members[1], f.base.members[1]};
  d.removals.clear();
  r = ApplyDelta(f.base, d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "delta_inconsistent");

  d = f.d;
  d.mtu = 100;
  r = ApplyDelta(f.base, d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "invalid_mesh_config");
}

TEST(MeshCfgJson, StateAndSignedStateRoundTrip) {
  KeyPair k;
  std::mt19937_64 rng(12);
  MeshState s = MakeState(20, rng);
  s.members[0].next_wg_public_key = Filled(8);
  s.members[1].next_wg_public_key.reset();
  auto back = ParseMeshState(ToJson(s));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(*back, s);
  EXPECT_EQ(ToJson(*back), ToJson(s));
  EXPECT_EQ(json::parse(ToJson(s))["members"][1].count("next_wg_public_key"), 0u);

  // Member order on the wire does not matter: parsed states come back sorted.
  json j = json::parse(ToJson(s));
  std::reverse(j["members"].begin(), j["members"].end());
  auto reordered = ParseMeshState(j.dump());
  ASSERT_TRUE(reordered.ok());
  EXPECT_EQ(*reordered, s);

  auto signed_state = SignState(s, k.sk);
  ASSERT_TRUE(signed_state.ok());
  auto sback = ParseSignedState(ToJson(*signed_state));
  ASSERT_TRUE(sback.ok()) << sback.error().ToString();
  EXPECT_EQ(sback->state, s);
  EXPECT_EQ(sback->hash, signed_state->hash);
  EXPECT_EQ(sback->signature, signed_state->signature);
  EXPECT_EQ(sback->signer_public_key, k.pk);
  EXPECT_TRUE(VerifySignedState(*sback, s.generation - 1, {k.pk}).ok());
}

// Applies `mutate` to the JSON of a valid object and expects the parse to
// fail with invalid_mesh_config naming `needle`.
template <typename Parse>
void ExpectMalformed(const std::string& valid, Parse parse,
                     const std::function<void(json&)>& mutate, const std::string& needle) {
  json j = json::parse(valid);
  mutate(j);
  auto r = parse(j.dump());
  ASSERT_FALSE(r.ok()) << needle;
  EXPECT_EQ(r.error().reason, "invalid_mesh_config");
  EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  EXPECT_NE(r.error().message.find(needle), std::string::npos)
      << "want '" << needle << "' in: " << r.error().message;
}

TEST(MeshCfgJson, MalformedStateFieldsAreNamed) {
  MeshState golden = GoldenState();
  SortMembers(golden);
  const std::string valid = ToJson(golden);
  ASSERT_TRUE(ParseMeshState(valid).ok());
  auto parse = [](const std::string& t) { return ParseMeshState(t); };
  using M = std::function<void(json&)>;
  std::vector<std::pair<M, std::string>> cases = {
      {[](json& j) { j.erase("generation"); }, "generation: required field missing"},
      {[](json& j) { j["generation"] = "7"; }, "generation: must be an integer"},
      {[](json& j) { j["generation"] = -1; }, "generation: out of range"},
      {[](json& j) { j["generation"] = 1.5; }, "generation: must be an integer"},
      {[](json& j) { j["generation"] = 18446744073709551615ull; }, "generation: out of range"},
      {[](json& j) { j["mtu"] = 100000; }, "mtu: out of range"},
      {[](json& j) { j["mesh_prefix"] = 5; }, "mesh_prefix: must be a string"},
      {[](json& j) { j["mesh_prefix"] = "fd12::"; }, "mesh_prefix"},
      {[](json& j) { j["members"] = json::object(); }, "members: must be an array"},
      {[](json& j) { j.erase("members"); }, "members: required field missing"},
      {[](json& j) { j["members"][1] = 3; }, "members[1]: must be an object"},
      {[](json& j) { j["members"][1].erase("hostname"); },
       "members[1].hostname: required field missing"},
      {[](json& j) { j["members"][0]["wg_public_key"] = "!!!"; },
       "members[0].wg_public_key: not valid padded base64"},
      {[](json& j) { j["members"][0]["wg_public_key"] = "AAAA"; },
       "members[0].wg_public_key: must be 32 bytes, got 3"},
      {[](json& j) { j["members"][1]["next_wg_public_key"] = 7; }, "members[1].next_wg_public_key"},
      {[](json& j) { j["members"][0]["endpoints"] = "192.0.2.1:1"; },
       "members[0].endpoints: must be an array"},
      {[](json& j) { j["members"][0]["endpoints"][1] = 1; },
       "members[0].endpoints[1]: must be a string"},
      {[](json& j) { j["members"][0]["endpoints"][1] = "192.0.2.1:0"; }, "members[0].endpoints[1]"},
      {[](json& j) { j["members"][1]["allowed_ips"][0] = "10.0.0.0/33"; },
       "members[1].allowed_ips[0]"},
      {[](json& j) { j["members"][1]["persistent_keepalive"] = 70000; },
       "members[1].persistent_keepalive: out of range"},
      {[](json& j) { j["members"][1]["node_id"] = j["members"][0]["node_id"]; },
       "appears more than once"},
      {[](json& j) { j["members"][0]["node_id"] = "has space"; }, "members[0].node_id"},
  };
  for (auto& [mutate, needle] : cases) ExpectMalformed(valid, parse, mutate, needle);

  for (std::string bad : {"", "{", "[]", "null", "\"x\""}) {
    auto r = ParseMeshState(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "invalid_mesh_config");
    EXPECT_EQ(r.error().message.rfind("body: ", 0), 0u) << r.error().message;
  }
  // Unknown fields are ignored.
  json j = json::parse(valid);
  j["future"] = {1, 2};
  j["members"][0]["future"] = "x";
  EXPECT_TRUE(ParseMeshState(j.dump()).ok());
}

TEST(MeshCfgJson, MalformedDeltaAndSignedStateFieldsAreNamed) {
  SignedDeltaFixture f;
  const std::string delta = ToJson(f.d);
  ASSERT_TRUE(ParseMeshDelta(delta).ok());
  auto parse_delta = [](const std::string& t) { return ParseMeshDelta(t); };
  using M = std::function<void(json&)>;
  std::vector<std::pair<M, std::string>> delta_cases = {
      {[](json& j) { j.erase("signature"); }, "signature: required field missing"},
      {[](json& j) { j["signature"] = "AAAA"; }, "signature: must be 64 bytes"},
      {[](json& j) { j["to_hash"] = ""; }, "to_hash: must be 32 bytes, got 0"},
      {[](json& j) { j["to_generation"] = j["from_generation"]; },
       "to_generation: must be greater"},
      {[](json& j) {
         j["removals"] = {"ok", 5};
       },
       "removals[1]: must be a string"},
      {[](json& j) { j["removals"] = {"bad id"}; }, "removals[0]"},
      {[](json& j) { j["upserts"] = {json::object()}; },
       "upserts[0].node_id: required field missing"},
      {[](json& j) { j["mtu"] = "1420"; }, "mtu: must be an integer"},
      {[](json& j) { j.erase("mesh_prefix"); }, "mesh_prefix: required field missing"},
  };
  for (auto& [mutate, needle] : delta_cases) ExpectMalformed(delta, parse_delta, mutate, needle);

  auto signed_state = SignState(GoldenState(), f.k.sk);
  ASSERT_TRUE(signed_state.ok());
  const std::string ss = ToJson(*signed_state);
  auto parse_ss = [](const std::string& t) { return ParseSignedState(t); };
  std::vector<std::pair<M, std::string>> ss_cases = {
      {[](json& j) { j.erase("state"); }, "state: required field missing"},
      {[](json& j) { j["state"] = 1; }, "state: must be an object"},
      {[](json& j) { j["state"]["members"][0]["wg_public_key"] = "AAAA"; },
       "state.members[0].wg_public_key"},
      {[](json& j) { j["state"]["mtu"] = 1; }, "state.mtu: out of range"},
      {[](json& j) { j["state"]["members"][1]["allowed_ips"] = {"x"}; },
       "state.members[1].allowed_ips[0]"},
      {[](json& j) { j["signer_public_key"] = "AAAA"; }, "signer_public_key: must be 32 bytes"},
      {[](json& j) { j["hash"] = 0; }, "hash: must be a base64 string"},
  };
  for (auto& [mutate, needle] : ss_cases) ExpectMalformed(ss, parse_ss, mutate, needle);
}

// ---------------------------------------------------------------- size

TEST(MeshCfgSize, OneJoinInThousandMemberMeshIsSmall) {
  KeyPair k;
  std::mt19937_64 rng(1000);
  MeshState from = MakeState(1000, rng, 41);
  MeshState to = from;
  to.generation++;
  MeshMember joiner = MakeMember(1000, rng);
  joiner.endpoints = {"192.0.2.200:51820", "[2001:db8::1:200]:51820"};  // worst realistic case
  joiner.next_wg_public_key = Filled(6);
  to.members.push_back(joiner);
  MeshDelta d = Diff(from, to);
  d.signature = *SignHash(d.to_hash, d.to_generation, k.sk);
  const std::string wire = ToJson(d);
  const size_t full = ToJson(to).size();
  std::cout << "[ meshcfg ] join delta in a 1000-member mesh: " << wire.size()
            << " bytes JSON (full state: " << full << " bytes)\n";
  RecordProperty("join_delta_bytes", static_cast<int>(wire.size()));
  RecordProperty("full_state_bytes", static_cast<int>(full));
  EXPECT_LT(wire.size(), 1024u);
  EXPECT_EQ(d.upserts.size(), 1u);
  auto applied = ApplyAndVerify(from, *ParseMeshDelta(wire), {k.pk});
  ASSERT_TRUE(applied.ok()) << applied.error().ToString();
  EXPECT_EQ(applied->members.size(), 1001u);
}

}  // namespace
}  // namespace tpmesh::meshcfg

namespace tpmesh::meshcfg {
namespace {

// ---- signing-key rotation: announced keys and co-signatures -----------------

TEST(MeshCfgSigningKeys, AnnouncedKeysAreHashedCarriedAndValidated) {
  KeyPair current, next;
  std::mt19937_64 rng(21);
  MeshState s = MakeState(3, rng, 4);
  const Bytes plain = StateHash(s);
  s.signing_keys = {current.pk, next.pk};
  EXPECT_NE(StateHash(s), plain) << "the announcement is part of the signed state";
  MeshState swapped = s;
  swapped.signing_keys = {next.pk, current.pk};
  EXPECT_NE(StateHash(swapped), StateHash(s)) << "order is data";
  // JSON round trip, and absent when empty.
  auto parsed = ParseMeshState(ToJson(s));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->signing_keys, s.signing_keys);
  s.signing_keys.clear();
  EXPECT_EQ(ToJson(s).find("signing_keys"), std::string::npos);
  // Refusals name the field.
  s.signing_keys = {current.pk, current.pk};
  EXPECT_NE(ValidateState(s).error().message.find("signing_keys[1]: listed twice"),
            std::string::npos);
  s.signing_keys = {Bytes(31, 1)};
  EXPECT_NE(ValidateState(s).error().message.find("signing_keys[0]: must be 32 bytes"),
            std::string::npos);
  s.signing_keys = {Filled(1), Filled(2), Filled(3), Filled(4), Filled(5)};
  EXPECT_FALSE(ValidateState(s).ok());
  json j = json::parse(ToJson(MakeState(3, rng, 2)));
  j["signing_keys"] = json::array({"not base64!"});
  auto bad = ParseMeshState(j.dump());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("signing_keys[0]"), std::string::npos);
}

TEST(MeshCfgSigningKeys, CoSignatureLetsAClientThatMissedTheAnnouncementVerify) {
  KeyPair old_key, new_key, stranger;
  std::mt19937_64 rng(22);
  MeshState s = MakeState(9, rng, 4);
  s.signing_keys = {new_key.pk, old_key.pk};
  // Signed by the new key, co-signed by the old one.
  auto signed_state = SignState(s, new_key.sk, {ByteView(old_key.sk)});
  ASSERT_TRUE(signed_state.ok()) << signed_state.error().ToString();
  ASSERT_EQ(signed_state->co_signatures.size(), 1u);
  EXPECT_TRUE(VerifySignedState(*signed_state, -1, {old_key.pk}).ok()) << "old-key client";
  EXPECT_TRUE(VerifySignedState(*signed_state, -1, {new_key.pk}).ok()) << "new-key client";
  auto refused = VerifySignedState(*signed_state, -1, {stranger.pk});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().reason, "config_signature_invalid");
  // The co-signature survives JSON.
  auto parsed = ParseSignedState(ToJson(*signed_state));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_TRUE(VerifySignedState(*parsed, -1, {old_key.pk}).ok());
  // A co-signature over another generation does not count.
  SignedState replay = *signed_state;
  replay.signature = *SignHash(replay.hash, 9, stranger.sk);
  replay.co_signatures = {*SignHash(replay.hash, 8, old_key.sk)};
  EXPECT_FALSE(VerifySignedState(replay, -1, {old_key.pk}).ok());
}

TEST(MeshCfgSigningKeys, DeltaCarriesTheChangeAndItsCoSignature) {
  KeyPair old_key, new_key;
  std::mt19937_64 rng(23);
  MeshState base = MakeState(4, rng, 3);
  MeshState target = base;
  target.generation = 5;
  target.signing_keys = {old_key.pk, new_key.pk};
  MeshDelta d = Diff(base, target);
  ASSERT_TRUE(d.signing_keys.has_value());
  EXPECT_TRUE(d.upserts.empty());
  d.signature = *SignHash(d.to_hash, d.to_generation, new_key.sk);
  d.co_signatures = {*SignHash(d.to_hash, d.to_generation, old_key.sk)};
  auto parsed = ParseMeshDelta(ToJson(d));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  auto applied = ApplyAndVerify(base, *parsed, {old_key.pk});
  ASSERT_TRUE(applied.ok()) << applied.error().ToString();
  EXPECT_EQ(applied->signing_keys, target.signing_keys);
  // Unchanged keys: the delta does not carry them, the result keeps them.
  MeshState later = target;
  later.generation = 6;
  MeshDelta d2 = Diff(target, later);
  EXPECT_FALSE(d2.signing_keys.has_value());
  EXPECT_EQ(ToJson(d2).find("signing_keys"), std::string::npos);
  d2.signature = *SignHash(d2.to_hash, d2.to_generation, new_key.sk);
  auto kept = ApplyAndVerify(*applied, d2, {new_key.pk});
  ASSERT_TRUE(kept.ok()) << kept.error().ToString();
  EXPECT_EQ(kept->signing_keys, target.signing_keys);
}

}  // namespace
}  // namespace tpmesh::meshcfg
