// CaKeys: what an authority CA version is (certificate and key), the trust
// bundle, and the server and admin certificates re-issued at the switch;
// the lifecycle and its files are RotatingKeyFiles'.
#include "tpmesh/authority/ca_keys.h"

#include <sodium.h>

#include "tpmesh/common/bytes.h"

namespace tpmesh::authority {
namespace {

constexpr auto kCaLifetime = std::chrono::hours(24 * 365 * 10);
constexpr auto kCertLifetime = std::chrono::hours(24 * 365);

const KeyFiles::Layout kLayout{.stem = "ca",
                               .primary = ".crt",
                               .exts = {".crt", ".key"},
                               .announce_generation = false,
                               .rotated_marker = ""};

}  // namespace

Result<CaKeys::Version> CaKeys::Version::Read(const KeyFiles& files, KeySlot slot) {
  const std::string crt = files.Path(slot, ".crt");
  TPMESH_ASSIGN_OR_RETURN(std::string cert_pem, files.Read(slot, ".crt"));
  if (slot == KeySlot::kOld) {  // its key was deleted at the switch
    TPMESH_ASSIGN_OR_RETURN(auto fps, pki::BundleFingerprints(cert_pem));
    if (fps.size() != 1) return KeyFiles::Corrupt(crt, "not one certificate");
    return Version{nullptr, std::move(cert_pem), fps[0]};
  }
  TPMESH_ASSIGN_OR_RETURN(std::string key_pem, files.Read(slot, ".key"));
  auto ca = pki::AuthorityCa::Load(cert_pem, key_pem);
  sodium_memzero(key_pem.data(), key_pem.size());
  if (!ca.ok()) {
    Error e = ca.take_error();
    e.message = crt + ": " + e.message;
    return e;
  }
  auto shared = std::make_shared<const pki::AuthorityCa>(std::move(*ca));
  return Version{shared, shared->cert_pem(), shared->Fingerprint()};
}

KeyFiles::Contents CaKeys::Version::Files(KeySlot slot) const {
  if (slot == KeySlot::kOld) return {{".crt", cert_pem}};
  return {{".key", ca->key_pem()}, {".crt", cert_pem}};
}

CaKeys::CaKeys(RotatingKeyFiles<Version> cas, std::string server_cert_pem,
               std::string server_key_pem)
    : cas_(std::move(cas)),
      server_cert_pem_(std::move(server_cert_pem)),
      server_key_pem_(std::move(server_key_pem)) {
  RefreshBundle();
}

Result<std::unique_ptr<CaKeys>> CaKeys::Load(const std::string& state_dir) {
  TPMESH_ASSIGN_OR_RETURN(
      auto cas, RotatingKeyFiles<Version>::Load(KeyFiles(state_dir, kLayout), "authority CA"));
  TPMESH_ASSIGN_OR_RETURN(std::string server_cert, pki::ReadFile(state_dir + "/server.crt"));
  TPMESH_ASSIGN_OR_RETURN(std::string server_key, pki::ReadFile(state_dir + "/server.key"));
  return std::unique_ptr<CaKeys>(
      new CaKeys(std::move(cas), std::move(server_cert), std::move(server_key)));
}

std::shared_ptr<const pki::AuthorityCa> CaKeys::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cas_.current().ca;
}

void CaKeys::RefreshBundle() {
  bundle_ = cas_.current().cert_pem;
  if (const Version* next = cas_.next()) bundle_ += next->cert_pem;
  if (const Version* old = cas_.old()) bundle_ += old->cert_pem;
  bundle_sha256_ = Sha256Hex(AsView(bundle_));
}

std::string CaKeys::Bundle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bundle_;
}

std::string CaKeys::BundleSha256() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bundle_sha256_;
}

TlsFiles CaKeys::Tls() const {
  std::lock_guard<std::mutex> lock(mu_);
  return TlsFiles{server_cert_pem_, server_key_pem_, bundle_};
}

std::vector<CaInfo> CaKeys::Info() const {
  using keyrotate::KeyState;
  using keyrotate::KeyStateName;
  std::lock_guard<std::mutex> lock(mu_);
  const auto& lc = cas_.lifecycle();
  std::vector<CaInfo> out{
      CaInfo{cas_.current().fingerprint, KeyStateName(KeyState::kCurrent), 0, 0}};
  if (const Version* next = cas_.next()) {
    out.push_back(
        CaInfo{next->fingerprint, KeyStateName(KeyState::kNext), lc.next()->announced_at, 0});
  }
  if (const Version* old = cas_.old())
    out.push_back(CaInfo{old->fingerprint, KeyStateName(KeyState::kRetired), 0, lc.old()->until});
  return out;
}

bool CaKeys::has_next() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cas_.next() != nullptr;
}
bool CaKeys::has_old() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cas_.old() != nullptr;
}
int64_t CaKeys::next_announced_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto& next = cas_.lifecycle().next();
  return next ? next->announced_at : 0;
}
int64_t CaKeys::old_until() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto& old = cas_.lifecycle().old();
  return old ? old->until : 0;
}

keyrotate::KeyStep CaKeys::Due(int64_t now, int64_t overlap, bool every_node_holds_next) const {
  std::lock_guard<std::mutex> lock(mu_);
  return cas_.lifecycle().Due(now, overlap, every_node_holds_next);
}

Status CaKeys::Announce(TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  TPMESH_RETURN_IF_ERROR(cas_.CheckAnnounce());
  TPMESH_ASSIGN_OR_RETURN(auto ca,
                          pki::AuthorityCa::Create("tpmesh authority CA", now, kCaLifetime));
  auto shared = std::make_shared<const pki::AuthorityCa>(std::move(ca));
  Version next{shared, shared->cert_pem(), shared->Fingerprint()};
  TPMESH_RETURN_IF_ERROR(cas_.Announce(std::move(next), ToUnixSeconds(now), 0));
  RefreshBundle();
  return OkStatus();
}

Status CaKeys::Switch(TimePoint now, int64_t until) {
  std::lock_guard<std::mutex> lock(mu_);
  TPMESH_RETURN_IF_ERROR(cas_.CheckSwitch());
  const pki::AuthorityCa& next = *cas_.next()->ca;
  // The same names for the server, the same admin name, from the new CA.
  TPMESH_ASSIGN_OR_RETURN(auto names, pki::ServerCertNames(server_cert_pem_));
  TPMESH_ASSIGN_OR_RETURN(
      auto server, next.IssueServerCert(names.dns_names, names.ip_addresses, now, kCertLifetime));
  std::optional<pki::CertAndKey> admin;
  if (auto admin_pem = pki::ReadFile(Path("admin.crt")); admin_pem.ok()) {
    if (auto id = pki::IdentityFromCertPem(*admin_pem);
        id.ok() && id->kind == pki::PeerKind::kAdmin) {
      TPMESH_ASSIGN_OR_RETURN(admin, next.IssueAdminCert(id->id, now, kCertLifetime));
    }
  }
  // What the new CA issued goes in after the old CA's certificate and before
  // the new CA becomes current: every crash point loads a bundle that
  // verifies whatever the server presents.
  const std::string chain = server.cert_pem + next.cert_pem();
  auto issued = [&]() -> Status {
    TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("server.key"), server.key_pem));
    TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("server.crt"), chain));
    if (admin) {
      TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("admin.key"), admin->key_pem));
      TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("admin.crt"), admin->cert_pem));
    }
    return OkStatus();
  };
  Status st = cas_.Switch(until, issued);
  if (admin) sodium_memzero(admin->key_pem.data(), admin->key_pem.size());
  if (!st.ok()) {
    sodium_memzero(server.key_pem.data(), server.key_pem.size());
    return st;
  }
  sodium_memzero(server_key_pem_.data(), server_key_pem_.size());
  server_cert_pem_ = chain;
  server_key_pem_ = std::move(server.key_pem);
  RefreshBundle();
  return OkStatus();
}

Status CaKeys::Retire() {
  std::lock_guard<std::mutex> lock(mu_);
  TPMESH_RETURN_IF_ERROR(cas_.Retire());
  RefreshBundle();
  return OkStatus();
}

}  // namespace tpmesh::authority
