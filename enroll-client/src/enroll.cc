#include "tpmesh/client/enroll.h"

#include <sodium.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "tpmesh/attest/tpm_public.h"
#include "tpmesh/net/http.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::client {
namespace {

namespace fs = std::filesystem;

std::string P(const EnrollOptions& o, const char* name) { return o.state_dir + "/" + name; }

void Say(const std::function<void(const std::string&)>& progress, const std::string& line) {
  if (progress) progress(line);
}

Error NextStep(Error e, const std::string& what_to_do) {
  e.message += "; " + what_to_do;
  return e;
}

// Loads the WireGuard key or makes one. The private key is only ever written
// to wg.key (0600) on this host.
Result<Bytes> LoadOrCreateWgKey(const EnrollOptions& o) {
  if (fs::exists(P(o, "wg.key"))) {
    TPMESH_ASSIGN_OR_RETURN(std::string b64, pki::ReadFile(P(o, "wg.key")));
    while (!b64.empty() && (b64.back() == '\n' || b64.back() == ' ')) b64.pop_back();
    auto sk = Base64Decode(b64, "wg.key");
    sodium_memzero(b64.data(), b64.size());
    if (!sk.ok() || sk->size() != 32) {
      return MakeError(Code::kFailedPrecondition, "state_corrupt",
                       P(o, "wg.key") +
                           " is not a base64 WireGuard private key; remove it to "
                           "generate a new one");
    }
    auto pk = WgPublicFromPrivate(*sk);
    sodium_memzero(sk->data(), sk->size());
    return pk;
  }
  WgKeyPair kp = GenerateWgKeyPair(SystemRandom::Instance());
  std::string b64 = Base64Encode(kp.private_key.view()) + "\n";
  Status st = pki::WritePrivateFile(P(o, "wg.key"), b64);
  sodium_memzero(b64.data(), b64.size());
  TPMESH_RETURN_IF_ERROR(st);
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(P(o, "wg.pub"), Base64Encode(kp.public_key) + "\n"));
  return kp.public_key;
}

// A re-enrollment's WireGuard key: a new keypair, kept in wg.key.new until
// the authority accepted it (a revoked node's keys are never accepted again,
// and a node must not come back with a key a rotation retired). Until then
// wg.key stays the key the running interface uses; the destructor removes
// wg.key.new unless Commit() moved it over wg.key.
class FreshWgKey {
 public:
  explicit FreshWgKey(const EnrollOptions& o) : o_(o) {}
  ~FreshWgKey() {
    if (!committed_) {
      std::error_code ec;
      fs::remove(P(o_, "wg.key.new"), ec);
    }
  }
  FreshWgKey(const FreshWgKey&) = delete;
  FreshWgKey& operator=(const FreshWgKey&) = delete;

  Result<Bytes> Make() {
    WgKeyPair kp = GenerateWgKeyPair(SystemRandom::Instance());
    std::string b64 = Base64Encode(kp.private_key.view()) + "\n";
    Status st = pki::WritePrivateFile(P(o_, "wg.key.new"), b64);  // 0600, temp + rename
    sodium_memzero(b64.data(), b64.size());
    TPMESH_RETURN_IF_ERROR(st);
    public_key_ = kp.public_key;
    return kp.public_key;
  }

  // wg.key.new replaces wg.key in one rename (never a moment without one);
  // a next key of an old rotation goes.
  Status Commit() {
    std::error_code ec;
    fs::rename(P(o_, "wg.key.new"), P(o_, "wg.key"), ec);
    if (ec)
      return MakeError(Code::kInternal, "state_write_failed",
                       P(o_, "wg.key") + ": " + ec.message());
    committed_ = true;
    fs::remove(P(o_, "wg.next.key"), ec);
    return pki::WritePrivateFile(P(o_, "wg.pub"), Base64Encode(public_key_) + "\n");
  }

 private:
  const EnrollOptions& o_;
  Bytes public_key_;
  bool committed_ = false;
};

Result<attest::AkBlob> LoadOrCreateAk(const EnrollOptions& o, attest::Tpm& tpm) {
  if (!o.force && fs::exists(P(o, "ak.blob"))) {
    TPMESH_ASSIGN_OR_RETURN(std::string raw, pki::ReadFile(P(o, "ak.blob")));
    return attest::AkBlob::Parse(AsView(raw));
  }
  TPMESH_ASSIGN_OR_RETURN(auto ak, tpm.CreateAk(attest::KeyAlg::kEccP256));
  Bytes blob = ak.Serialize();
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(P(o, "ak.blob"), std::string(blob.begin(), blob.end())));
  return ak;
}

}  // namespace

Result<attest::EkBundle> EkOfNode(const std::string& node_id, attest::Tpm& tpm) {
  for (auto alg : {attest::KeyAlg::kRsa2048, attest::KeyAlg::kEccP256}) {
    auto ek = tpm.ReadEk(alg);
    if (!ek.ok()) continue;
    auto pub = attest::ParseTpm2bPublic(ek->ek_public);
    auto fp = pub.ok() ? pub->SpkiSha256() : Result<Bytes>(pub.error());
    if (fp.ok() && fp->size() >= 10 && HexEncode(ByteView(fp->data(), 10)) == node_id) return ek;
  }
  return MakeError(Code::kFailedPrecondition, "ek_mismatch",
                   "no EK of this TPM names node " + node_id +
                       ": the state directory belongs to another machine's TPM");
}

namespace {

Result<attest::EkBundle> ChooseEk(const EnrollOptions& o, attest::Tpm& tpm) {
  if (o.node_id) return EkOfNode(*o.node_id, tpm);
  if (o.ek_alg) return tpm.ReadEk(*o.ek_alg);
  TPMESH_ASSIGN_OR_RETURN(auto rsa, tpm.ReadEk(attest::KeyAlg::kRsa2048));
  if (rsa.ek_cert_der) return rsa;
  auto ecc = tpm.ReadEk(attest::KeyAlg::kEccP256);
  if (ecc.ok() && ecc->ek_cert_der) return ecc;
  return rsa;  // no certificate at all: the authority must allowlist this EK
}

Result<net::ClientResponse> PostJson(net::Client& c, const std::string& path,
                                     const std::string& body) {
  TPMESH_ASSIGN_OR_RETURN(auto r, c.Post(path, body));
  if (r.status >= 300) return net::ErrorFromResponse(r);
  return r;
}

// Wipes a secret string (a private key PEM) on every way out of a scope.
struct WipeOnExit {
  std::string& s;
  ~WipeOnExit() { sodium_memzero(s.data(), s.size()); }
};

// One attestation round trip: start (checks 1-5, 14, 15 on the authority),
// credential activation and quote on the TPM, finish.
Result<proto::EnrollFinishResponse> AttestRound(
    const EnrollOptions& o, net::Client& http, attest::Tpm& tpm, const attest::EkBundle& ek,
    const attest::AkBlob& ak, const Bytes& wg_public, const std::string& csr,
    const std::function<void(const std::string&)>& progress) {
  proto::EnrollStartRequest start{o.hostname,     ek.alg,           ek.ek_public,
                                  ek.ek_cert_der, ek.intermediates, ak.public_area};
  TPMESH_ASSIGN_OR_RETURN(auto sr, PostJson(http, "/v1/enroll/start", proto::ToJson(start)));
  TPMESH_ASSIGN_OR_RETURN(auto challenge, proto::ParseEnrollStartResponse(sr.body));
  Say(progress, "attestation round 1 passed; activating the credential and quoting PCRs");
  TPMESH_ASSIGN_OR_RETURN(auto secret, tpm.ActivateCredential(ak, ek.alg, challenge.credential));
  TPMESH_ASSIGN_OR_RETURN(auto quote, tpm.Quote(ak, challenge.pcr_selection, challenge.nonce));
  proto::EnrollFinishRequest finish;
  finish.challenge_id = challenge.challenge_id;
  finish.secret = std::move(secret);
  finish.quote = std::move(quote);
  finish.wg_public_key = wg_public;
  finish.hostname = o.hostname;
  finish.endpoints = o.endpoints;
  finish.csr_pem = csr;
  finish.token = o.token;
  TPMESH_ASSIGN_OR_RETURN(auto fr, PostJson(http, "/v1/enroll/finish", proto::ToJson(finish)));
  return proto::ParseEnrollFinishResponse(fr.body);
}

Status SaveState(const EnrollOptions& o, const proto::EnrollFinishResponse& r) {
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(P(o, "node.crt"), r.node_cert_pem));
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(P(o, "ca.crt"), r.ca_bundle_pem));
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(P(o, "authority"), o.authority_url + "\n"));
  // The enrollment pins the authority's current config-signing key: a set
  // learned from earlier signing-key announcements no longer applies.
  std::error_code ec;
  fs::remove(P(o, "signing-keys.json"), ec);
  if (ec)
    return MakeError(Code::kInternal, "state_write_failed",
                     P(o, "signing-keys.json") + ": " + ec.message());
  return pki::WritePrivateFile(P(o, "node.json"), proto::ToJson(r));  // last: marks completion
}

}  // namespace

Result<EnrollOptions> ReenrollOptions(const NodeFiles& f, const meshcfg::MeshState* held,
                                      const std::string& state_dir) {
  const meshcfg::MeshMember* self = nullptr;
  if (held != nullptr) {
    for (const auto& m : held->members)
      if (m.node_id == f.enrolled.node_id) self = &m;
  }
  if (self == nullptr) {
    return MakeError(Code::kFailedPrecondition, "no_config",
                     "no verified config (mesh.json) names node " + f.enrolled.node_id +
                         ", so its hostname and endpoints are unknown here; enroll again with "
                         "'tpmesh-client enroll --force'");
  }
  EnrollOptions o;
  o.authority_url = f.authority_urls.front();
  o.state_dir = state_dir;
  o.hostname = self->hostname;
  o.endpoints = self->endpoints;
  o.force = true;
  o.node_id = f.enrolled.node_id;
  return o;
}

WgKeyPair GenerateWgKeyPair(Random& rng) {
  WgKeyPair kp{SecretBytes(32), Bytes(32)};
  rng.Fill(kp.private_key.span());
  kp.private_key.data()[0] &= 248;
  kp.private_key.data()[31] = (kp.private_key.data()[31] & 127) | 64;
  crypto_scalarmult_base(kp.public_key.data(), kp.private_key.data());
  return kp;
}

Result<Bytes> WgPublicFromPrivate(ByteView sk) {
  if (sk.size() != 32)
    return MakeError(Code::kInvalidArgument, "invalid_key", "WireGuard keys are 32 bytes");
  Bytes pk(32);
  if (crypto_scalarmult_base(pk.data(), sk.data()) != 0) {
    return MakeError(Code::kInvalidArgument, "invalid_key", "invalid WireGuard private key");
  }
  return pk;
}

namespace {
// What both Enroll and EnrollOver need first: libsodium, valid names, the
// private state directory.
Status Prepare(const EnrollOptions& o) {
  if (sodium_init() < 0)
    return MakeError(Code::kInternal, "sodium_init", "libsodium failed to initialize");
  TPMESH_RETURN_IF_ERROR(proto::ValidateHostname(o.hostname));
  for (const auto& e : o.endpoints) TPMESH_RETURN_IF_ERROR(proto::ValidateEndpoint(e));
  return pki::EnsurePrivateDir(o.state_dir);
}
}  // namespace

Result<EnrollOutcome> Enroll(const EnrollOptions& o, attest::Tpm& tpm,
                             const std::function<void(const std::string&)>& progress) {
  TPMESH_RETURN_IF_ERROR(Prepare(o));
  if (!o.force && fs::exists(P(o, "node.json"))) {
    TPMESH_ASSIGN_OR_RETURN(std::string raw, pki::ReadFile(P(o, "node.json")));
    auto parsed = proto::ParseEnrollFinishResponse(raw);
    if (parsed.ok()) {
      Say(progress, "already enrolled as node " + parsed->node_id + " (" + parsed->overlay_address +
                        "); use --force to enroll again");
      return EnrollOutcome{true, std::move(*parsed)};
    }
  }

  Say(progress, "pinning the authority CA at " + o.authority_url);
  auto ca = net::FetchPinnedCa(o.authority_url, o.ca_fingerprint);
  if (!ca.ok()) {
    return NextStep(ca.take_error(),
                    "check --authority and that --ca-fingerprint is the one "
                    "'tpmesh-authority init' printed");
  }
  // One connection for start and finish (one TLS handshake per enrollment).
  TPMESH_ASSIGN_OR_RETURN(
      auto http, net::MakeClient(net::ClientOptions{o.authority_url, *ca, "", "", 30, true}));
  return EnrollOver(o, *http, tpm, progress);
}

Result<EnrollOutcome> EnrollOver(const EnrollOptions& o, net::Client& http, attest::Tpm& tpm,
                                 const std::function<void(const std::string&)>& progress) {
  TPMESH_RETURN_IF_ERROR(Prepare(o));
  auto ek = ChooseEk(o, tpm);
  if (!ek.ok()) return NextStep(ek.take_error(), "check the TPM (--tcti) is reachable");
  Say(progress, std::string("EK ") + attest::KeyAlgName(ek->alg) +
                    (ek->ek_cert_der ? " with certificate"
                                     : " WITHOUT certificate (needs the EK allowlist)"));
  TPMESH_ASSIGN_OR_RETURN(auto ak, LoadOrCreateAk(o, tpm));
  // --force over an enrollment: a new WireGuard key (and, as always, a new
  // node key). A first enrollment keeps a wg.key an earlier attempt made.
  const bool reenroll = o.force && fs::exists(P(o, "node.json"));
  FreshWgKey fresh_wg(o);
  Result<Bytes> wg_key = reenroll ? fresh_wg.Make() : LoadOrCreateWgKey(o);
  TPMESH_ASSIGN_OR_RETURN(Bytes wg_public, std::move(wg_key));
  if (reenroll) Say(progress, "re-enrolling with a new WireGuard key " + Base64Encode(wg_public));
  TPMESH_ASSIGN_OR_RETURN(std::string node_key, pki::GenerateKeyPem());
  WipeOnExit wipe{node_key};
  TPMESH_ASSIGN_OR_RETURN(std::string csr, pki::MakeCsr(node_key, o.hostname));

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(o.wait_for_approval_seconds);
  for (;;) {
    TPMESH_ASSIGN_OR_RETURN(auto result,
                            AttestRound(o, http, tpm, *ek, ak, wg_public, csr, progress));
    if (result.status == "active") {
      TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(P(o, "node.key"), node_key));
      if (reenroll) TPMESH_RETURN_IF_ERROR(fresh_wg.Commit());
      TPMESH_RETURN_IF_ERROR(SaveState(o, result));
      Say(progress, "enrolled as node " + result.node_id + ": " + result.overlay_address + " in " +
                        result.overlay_prefix + ", " + std::to_string(result.peer_count) +
                        " peer(s)");
      return EnrollOutcome{false, std::move(result)};
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return MakeError(Code::kFailedPrecondition, "pending_approval",
                       "node " + result.node_id +
                           " is waiting for an admin: run 'tpmeshctl nodes "
                           "approve " +
                           result.node_id + "' on the admin host, then enroll again");
    }
    Say(progress, "waiting for an admin to approve node " + result.node_id);
    std::this_thread::sleep_for(std::chrono::seconds(o.poll_interval_seconds));
  }
}

}  // namespace tpmesh::client
