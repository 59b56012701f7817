// config_build_ms_n10000, change_bytes_per_node_n1000 and the authority's
// per-generation cost (docs/benchmarks.md).
//
//   config_build_ms_n10000   meshcfg only: SignState (validate, sort, canonical
//                            encoding, SHA-256, Ed25519) + ToJson of the signed
//                            state, for 10,000 members.
//   config_publish_ms_n10000 what the authority does per membership change:
//                            AuthorityService::Revoke = one SQLite
//                            transaction (status, generation bump, audit),
//                            then the MeshState from memory (MeshView),
//                            ConfigPublisher::Publish (sort + SignState).
//   config_load_ms_n10000    the same at start (PublishCurrent: every row
//                            read, the view loaded, signed). Nodes are real rows in
//                            a temp SQLite file.
//   config_listnodes_ms_n10000 one Transact(ListNodes) alone (the start-up
//                            read; no longer done per change).
//   change_bytes_per_node_n1000 the JSON body ConfigPublisher hands a client
//                            at generation G-1 after one node joined a 1,000
//                            node mesh (a delta); HTTP headers and TLS framing
//                            not included.
//
// Size sweep (--quick and full runs, not --selftest; scripts/bench-plot draws
// each against N): config_build_ms / config_sign_ms at N = 1,000, 2,000,
// 5,000 (10,000 is the line above), change_bytes_per_node / full_config_bytes
// at 2,000, 5,000, 10,000 (1,000 above), config_publish_ms /
// config_listnodes_ms at 1,000, 2,000, 5,000 (10,000 above).
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <string>
#include <vector>

#include "bench/bench.h"
#include "tests/support/authority_keys.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/meshcfg/meshcfg.h"

namespace tpmesh::bench {
namespace {

std::string Hostname(uint32_t i) { return "node-" + std::to_string(100000 + i).substr(1); }

meshcfg::MeshMember Member(const authority::MeshPrefix& prefix, uint32_t i) {
  return meshcfg::MeshMember{HexEncode(DerivedBytes(i, 1, 10)),
                             Hostname(i),
                             DerivedBytes(i, 2, 32),
                             {"192.0.2." + std::to_string(i % 250 + 1) + ":51820",
                              "[2001:db8::" + std::to_string(i % 9000 + 1) + "]:51820"},
                             {authority::SubnetPrefix(prefix, i + 1)},
                             25,
                             std::nullopt};
}

meshcfg::MeshState State(const authority::MeshPrefix& prefix, uint32_t n, int64_t generation) {
  meshcfg::MeshState s;
  s.generation = generation;
  s.mesh_prefix = kMeshPrefix;
  for (uint32_t i = 0; i < n; ++i) s.members.push_back(Member(prefix, i));
  meshcfg::SortMembers(s);
  return s;
}

template <typename Op>
Result<double> MsPerOp(int iters, Op op) {
  double t0 = Now();
  for (int i = 0; i < iters; ++i) TPMESH_RETURN_IF_ERROR(op());
  return (Now() - t0) * 1e3 / iters;
}

// The suffix of a line measured at `n` members: "_n<n>".
std::string SizeSuffix(uint32_t n) { return "_n" + std::to_string(n); }

// Mesh sizes of the sweep (empty under --selftest).
std::vector<uint32_t> Sweep(const BenchConfig& cfg, std::vector<uint32_t> sizes) {
  return cfg.selftest ? std::vector<uint32_t>{} : sizes;
}

struct BuildTimes {
  double sign_ms = 0;   // SignState
  double build_ms = 0;  // SignState + ToJson
  size_t json_bytes = 0;
};

Result<BuildTimes> TimeBuild(const meshcfg::MeshState& state, ByteView sk, int iters) {
  BuildTimes t;
  TPMESH_ASSIGN_OR_RETURN(t.sign_ms, MsPerOp(iters, [&]() -> Status {
                            auto s = meshcfg::SignState(state, sk);
                            return s.ok() ? OkStatus() : s.take_error();
                          }));
  TPMESH_ASSIGN_OR_RETURN(t.build_ms, MsPerOp(iters, [&]() -> Status {
                            auto s = meshcfg::SignState(state, sk);
                            if (!s.ok()) return s.take_error();
                            t.json_bytes = meshcfg::ToJson(*s).size();
                            return OkStatus();
                          }));
  return t;
}

// Lines are named with `sfx` (under --selftest n is smaller than the name says).
Status ChangeBytes(const authority::MeshPrefix& prefix, uint32_t n, const std::string& sfx,
                   ByteView secret, const Bytes& pk, Reporter& out) {
  authority::ConfigPublisher publisher{SecretBytes(secret)};
  meshcfg::MeshState before = State(prefix, n, 10);
  meshcfg::MeshState after = before;
  after.generation = 11;
  after.members.push_back(Member(prefix, n));
  meshcfg::SortMembers(after);
  TPMESH_RETURN_IF_ERROR(publisher.Publish(before));
  TPMESH_RETURN_IF_ERROR(publisher.Publish(after));
  auto delta = publisher.Newer(10);
  auto full = publisher.Newer(-1);
  if (!delta || !full) return BenchError("publisher returned no body");
  // The body must be a delta that a client at G-1 can apply and verify.
  auto j = nlohmann::json::parse(*delta, nullptr, false);
  if (j.is_discarded() || !j.contains("delta")) return BenchError("expected a delta body");
  TPMESH_ASSIGN_OR_RETURN(auto d, meshcfg::ParseMeshDelta(j["delta"].dump()));
  TPMESH_ASSIGN_OR_RETURN(auto applied, meshcfg::ApplyAndVerify(before, d, {pk}));
  if (applied != after) return BenchError("applied delta differs from the published state");
  out.Emit("change_bytes_per_node" + sfx, static_cast<double>(delta->size()), "bytes");
  out.Emit("full_config_bytes" + sfx, static_cast<double>(full->size()), "bytes");
  return OkStatus();
}

// Lines are named with `sfx` (under --selftest n is smaller than the name says).
Status AuthorityPath(const BenchConfig& cfg, uint32_t n, const std::string& sfx, Reporter& out) {
  TempDir dir;
  if (!dir.ok()) return BenchError("mkdtemp failed");
  TPMESH_ASSIGN_OR_RETURN(auto store, authority::OpenSqliteStore(dir.File("authority.db")));
  TPMESH_RETURN_IF_ERROR(store->Transact([&](authority::Tx& tx) -> Status {
    for (uint32_t i = 0; i < n; ++i) TPMESH_RETURN_IF_ERROR(tx.InsertNode(SyntheticNode(i)));
    return OkStatus();
  }));
  attest::TrustStore trust;
  authority::AuthoritySettings settings;
  TPMESH_ASSIGN_OR_RETURN(settings.mesh_prefix, authority::ParseMeshPrefix(kMeshPrefix));
  // The authority's keys as `tpmesh-authority init` makes them.
  TPMESH_ASSIGN_OR_RETURN(auto keys,
                          testing::InitAuthorityKeys(dir.File("keys"), SystemClock::Instance()));
  authority::AuthorityService service(*store, trust, keys.keys(), settings, SystemClock::Instance(),
                                      SystemRandom::Instance());
  authority::ConfigPublisher publisher{SecretBytes{}};
  keys.signing->Configure(publisher);  // as `serve` does
  service.SetPublisher(&publisher);
  const int iters = cfg.selftest ? 1 : cfg.quick ? 3 : 10;
  // At start: read every row, build, sign (once per process).
  double t_load = Now();
  TPMESH_RETURN_IF_ERROR(service.PublishCurrent());
  out.Emit("config_load_ms" + sfx, (Now() - t_load) * 1e3, "ms");
  // Per change: an admin revokes a node (one transaction: status, generation
  // bump, audit), then the state is built from memory, signed, published.
  double total = 0;
  for (int i = 0; i < iters; ++i) {
    const int64_t before = publisher.generation();
    double t0 = Now();
    TPMESH_ASSIGN_OR_RETURN(
        auto revoked,
        service.Revoke(SyntheticNode(static_cast<uint32_t>(i)).node_id, "admin:bench", "bench"));
    (void)revoked;
    total += Now() - t0;
    if (publisher.generation() <= before) return BenchError("the revocation published nothing");
  }
  auto body = publisher.Newer(-1);
  if (!body || body->find(SyntheticNode(n - 1).hostname) == std::string::npos ||
      body->find("\"" + SyntheticNode(0).hostname + "\"") != std::string::npos) {
    return BenchError("published state lacks the last node or still holds the revoked one");
  }
  out.Emit("config_publish_ms" + sfx, total * 1e3 / iters, "ms");
  TPMESH_ASSIGN_OR_RETURN(double list_ms, MsPerOp(iters, [&] {
                            return store->Transact([&](authority::Tx& tx) -> Status {
                              auto nodes = tx.ListNodes();
                              if (!nodes.ok()) return nodes.take_error();
                              return nodes->size() == n ? OkStatus() : BenchError("ListNodes size");
                            });
                          }));
  out.Emit("config_listnodes_ms" + sfx, list_ms, "ms");
  return OkStatus();
}

}  // namespace

Status RunConfigBuild(const BenchConfig& cfg, Reporter& out) {
  if (sodium_init() < 0) return BenchError("sodium_init");
  TPMESH_ASSIGN_OR_RETURN(auto prefix, authority::ParseMeshPrefix(kMeshPrefix));
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  SecretBytes sk(crypto_sign_SECRETKEYBYTES);
  crypto_sign_keypair(pk, sk.data());
  const uint32_t n_big = cfg.selftest ? 300 : 10000;
  const uint32_t n_change = cfg.selftest ? 100 : 1000;
  if (cfg.selftest) out.Note("selftest: N reduced (names keep n10000/n1000; values meaningless)");

  const meshcfg::MeshState state = State(prefix, n_big, 7);
  const int iters = cfg.selftest ? 1 : cfg.quick ? 5 : 20;
  TPMESH_ASSIGN_OR_RETURN(const BuildTimes times, TimeBuild(state, sk.view(), iters));
  // The signature must verify for a client.
  TPMESH_ASSIGN_OR_RETURN(auto signed_state, meshcfg::SignState(state, sk.view()));
  if (!meshcfg::VerifySignedState(signed_state, -1, {Bytes(pk, pk + sizeof pk)}).ok()) {
    return BenchError("signed state does not verify");
  }
  meshcfg::MeshState joined = state;
  joined.generation = 8;
  joined.members.push_back(Member(prefix, n_big));
  meshcfg::SortMembers(joined);
  size_t upserts = 0;
  TPMESH_ASSIGN_OR_RETURN(double diff_ms, MsPerOp(iters, [&]() -> Status {
                            upserts = meshcfg::Diff(state, joined).upserts.size();
                            return OkStatus();
                          }));
  if (upserts != 1)
    return BenchError("Diff of one join has " + std::to_string(upserts) + " upserts");
  out.Emit("config_build_ms_n10000", times.build_ms, "ms");
  out.Emit("config_sign_ms_n10000", times.sign_ms, "ms");
  out.Emit("config_diff_ms_n10000", diff_ms, "ms");
  out.Emit("config_json_bytes_n10000", static_cast<double>(times.json_bytes), "bytes");
  for (uint32_t n : Sweep(cfg, {1000, 2000, 5000})) {
    TPMESH_ASSIGN_OR_RETURN(const BuildTimes t, TimeBuild(State(prefix, n, 7), sk.view(), iters));
    out.Emit("config_build_ms" + SizeSuffix(n), t.build_ms, "ms");
    out.Emit("config_sign_ms" + SizeSuffix(n), t.sign_ms, "ms");
  }

  const Bytes public_key(pk, pk + sizeof pk);
  TPMESH_RETURN_IF_ERROR(ChangeBytes(prefix, n_change, "_n1000", sk.view(), public_key, out));
  for (uint32_t n : Sweep(cfg, {2000, 5000, 10000})) {
    TPMESH_RETURN_IF_ERROR(ChangeBytes(prefix, n, SizeSuffix(n), sk.view(), public_key, out));
  }
  TPMESH_RETURN_IF_ERROR(AuthorityPath(cfg, n_big, "_n10000", out));
  for (uint32_t n : Sweep(cfg, {1000, 2000, 5000})) {
    TPMESH_RETURN_IF_ERROR(AuthorityPath(cfg, n, SizeSuffix(n), out));
  }
  return OkStatus();
}

}  // namespace tpmesh::bench
