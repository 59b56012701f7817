#include "tpmesh/authority/ca_keys.h"

#include <sodium.h>

#include <filesystem>
#include <sstream>

#include "tpmesh/common/bytes.h"

namespace tpmesh::authority {
namespace {

namespace fs = std::filesystem;
constexpr auto kCaLifetime = std::chrono::hours(24 * 365 * 10);
constexpr auto kCertLifetime = std::chrono::hours(24 * 365);

bool Exists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}
void Remove(const std::string& p) {
  std::error_code ec;
  fs::remove(p, ec);
}

Result<int64_t> ReadInt(const std::string& path) {
  TPMESH_ASSIGN_OR_RETURN(std::string text, pki::ReadFile(path));
  std::istringstream in(text);
  int64_t v = 0;
  if (!(in >> v))
    return MakeError(Code::kFailedPrecondition, "state_corrupt", path + ": malformed");
  return v;
}

Result<std::shared_ptr<const pki::AuthorityCa>> LoadCa(const std::string& crt,
                                                       const std::string& key) {
  TPMESH_ASSIGN_OR_RETURN(std::string cert_pem, pki::ReadFile(crt));
  TPMESH_ASSIGN_OR_RETURN(std::string key_pem, pki::ReadFile(key));
  auto ca = pki::AuthorityCa::Load(cert_pem, key_pem);
  sodium_memzero(key_pem.data(), key_pem.size());
  if (!ca.ok()) {
    Error e = ca.take_error();
    e.message = crt + ": " + e.message;
    return e;
  }
  return std::make_shared<const pki::AuthorityCa>(std::move(*ca));
}

}  // namespace

Result<std::unique_ptr<CaKeys>> CaKeys::Load(const std::string& state_dir) {
  std::unique_ptr<CaKeys> k(new CaKeys(state_dir));
  TPMESH_ASSIGN_OR_RETURN(k->current_, LoadCa(k->Path("ca.crt"), k->Path("ca.key")));
  if (Exists(k->Path("ca.next.crt"))) {
    TPMESH_ASSIGN_OR_RETURN(auto next, LoadCa(k->Path("ca.next.crt"), k->Path("ca.next.key")));
    if (next->Fingerprint() == k->current_->Fingerprint()) {  // switched just before a crash
      Remove(k->Path("ca.next.crt"));
      Remove(k->Path("ca.next.key"));
      Remove(k->Path("ca.next.meta"));
    } else {
      k->next_ = std::move(next);
      if (Exists(k->Path("ca.next.meta"))) {
        TPMESH_ASSIGN_OR_RETURN(k->next_at_, ReadInt(k->Path("ca.next.meta")));
      }
    }
  }
  if (Exists(k->Path("ca.old.crt"))) {
    TPMESH_ASSIGN_OR_RETURN(std::string old, pki::ReadFile(k->Path("ca.old.crt")));
    TPMESH_ASSIGN_OR_RETURN(auto fps, pki::BundleFingerprints(old));
    if (fps.size() != 1) {
      return MakeError(Code::kFailedPrecondition, "state_corrupt",
                       k->Path("ca.old.crt") + ": not one certificate");
    }
    if (fps[0] != k->current_->Fingerprint()) {
      k->old_cert_pem_ = std::move(old);
      k->old_fingerprint_ = fps[0];
      if (Exists(k->Path("ca.old.meta"))) {
        TPMESH_ASSIGN_OR_RETURN(k->old_until_, ReadInt(k->Path("ca.old.meta")));
      }
    }
  }
  TPMESH_ASSIGN_OR_RETURN(k->server_cert_pem_, pki::ReadFile(k->Path("server.crt")));
  TPMESH_ASSIGN_OR_RETURN(k->server_key_pem_, pki::ReadFile(k->Path("server.key")));
  k->RefreshBundle();
  return k;
}

std::shared_ptr<const pki::AuthorityCa> CaKeys::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

void CaKeys::RefreshBundle() {
  bundle_ = current_->cert_pem();
  if (next_) bundle_ += next_->cert_pem();
  if (old_cert_pem_) bundle_ += *old_cert_pem_;
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
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<CaInfo> out{CaInfo{current_->Fingerprint(), "current", 0, 0}};
  if (next_) out.push_back(CaInfo{next_->Fingerprint(), "next", next_at_, 0});
  if (old_cert_pem_) out.push_back(CaInfo{old_fingerprint_, "retired", 0, old_until_});
  return out;
}

bool CaKeys::has_next() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_ != nullptr;
}
bool CaKeys::has_old() const {
  std::lock_guard<std::mutex> lock(mu_);
  return old_cert_pem_.has_value();
}
int64_t CaKeys::next_announced_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_at_;
}
int64_t CaKeys::old_until() const {
  std::lock_guard<std::mutex> lock(mu_);
  return old_until_;
}

Status CaKeys::Announce(TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  if (next_ || old_cert_pem_) {
    return MakeError(Code::kFailedPrecondition, "rotation_in_progress",
                     next_ ? "a next authority CA is announced already"
                           : "the previous authority CA is still in its overlap");
  }
  TPMESH_ASSIGN_OR_RETURN(auto ca,
                          pki::AuthorityCa::Create("tpmesh authority CA", now, kCaLifetime));
  std::string key = ca.key_pem();
  Status st = pki::WritePrivateFile(Path("ca.next.key"), key);
  sodium_memzero(key.data(), key.size());
  TPMESH_RETURN_IF_ERROR(st);
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("ca.next.crt"), ca.cert_pem()));
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path("ca.next.meta"), std::to_string(ToUnixSeconds(now)) + "\n"));
  next_ = std::make_shared<const pki::AuthorityCa>(std::move(ca));
  next_at_ = ToUnixSeconds(now);
  RefreshBundle();
  return OkStatus();
}

Status CaKeys::Switch(TimePoint now, int64_t until) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!next_)
    return MakeError(Code::kFailedPrecondition, "no_next_key", "no next authority CA is announced");
  // The same names for the server, the same admin name, from the new CA.
  TPMESH_ASSIGN_OR_RETURN(auto names, pki::ServerCertNames(server_cert_pem_));
  TPMESH_ASSIGN_OR_RETURN(
      auto server, next_->IssueServerCert(names.dns_names, names.ip_addresses, now, kCertLifetime));
  std::optional<pki::CertAndKey> admin;
  if (auto admin_pem = pki::ReadFile(Path("admin.crt")); admin_pem.ok()) {
    if (auto id = pki::IdentityFromCertPem(*admin_pem);
        id.ok() && id->kind == pki::PeerKind::kAdmin) {
      TPMESH_ASSIGN_OR_RETURN(admin, next_->IssueAdminCert(id->id, now, kCertLifetime));
    }
  }
  // Old first, then what the new CA issued, then the CA itself: every crash
  // point loads a bundle that verifies whatever the server presents.
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("ca.old.crt"), current_->cert_pem()));
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("ca.old.meta"), std::to_string(until) + "\n"));
  const std::string chain = server.cert_pem + next_->cert_pem();
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("server.key"), server.key_pem));
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("server.crt"), chain));
  if (admin) {
    TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("admin.key"), admin->key_pem));
    TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("admin.crt"), admin->cert_pem));
    sodium_memzero(admin->key_pem.data(), admin->key_pem.size());
  }
  std::string key = next_->key_pem();
  Status st = pki::WritePrivateFile(Path("ca.key"), key);
  sodium_memzero(key.data(), key.size());
  TPMESH_RETURN_IF_ERROR(st);
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path("ca.crt"), next_->cert_pem()));
  Remove(Path("ca.next.crt"));
  Remove(Path("ca.next.key"));
  Remove(Path("ca.next.meta"));
  old_fingerprint_ = current_->Fingerprint();
  old_cert_pem_ = current_->cert_pem();
  old_until_ = until;
  current_ = std::move(next_);
  next_.reset();
  sodium_memzero(server_key_pem_.data(), server_key_pem_.size());
  server_cert_pem_ = chain;
  server_key_pem_ = std::move(server.key_pem);
  RefreshBundle();
  return OkStatus();
}

Status CaKeys::Retire() {
  std::lock_guard<std::mutex> lock(mu_);
  Remove(Path("ca.old.crt"));
  Remove(Path("ca.old.meta"));
  if (Exists(Path("ca.old.crt"))) {
    return MakeError(Code::kInternal, "state_write_failed",
                     Path("ca.old.crt") + " could not be removed");
  }
  old_cert_pem_.reset();
  old_fingerprint_.clear();
  old_until_ = 0;
  RefreshBundle();
  return OkStatus();
}

}  // namespace tpmesh::authority
