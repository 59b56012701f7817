// TrustStore: the EK trust anchors and intermediates, loaded from PEM/DER
// files (ekcert.h). Chain building over it is in ekcert.cc.
#include <openssl/pem.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "ossl.h"
#include "tpmesh/attest/ekcert.h"
#include "trust_store_impl.h"
#include "verify_internal.h"

namespace tpmesh::attest {
namespace {

using BioPtr = std::unique_ptr<BIO, ossl::Deleter<BIO_free>>;

Error TrustError(Code code, std::string message) {
  return MakeError(code, "trust_store_invalid", std::move(message));
}

}  // namespace

TrustStore::TrustStore() : impl_(std::make_unique<Impl>()) {}
TrustStore::~TrustStore() = default;
TrustStore::TrustStore(TrustStore&&) noexcept = default;
TrustStore& TrustStore::operator=(TrustStore&&) noexcept = default;

size_t TrustStore::root_count() const {
  return impl_ ? static_cast<size_t>(sk_X509_num(impl_->root_list)) : 0;
}
size_t TrustStore::intermediate_count() const {
  return impl_ ? static_cast<size_t>(sk_X509_num(impl_->intermediates)) : 0;
}

namespace {

bool Contains(STACK_OF(X509) * list, X509* c) {
  for (int i = 0; i < sk_X509_num(list); ++i) {
    if (X509_cmp(sk_X509_value(list, i), c) == 0) return true;
  }
  return false;
}

// Takes ownership of `cert`.
Status AddCert(TrustStore::Impl& impl, ossl::X509Ptr cert, bool anchor) {
  if (!impl.roots || !impl.root_list || !impl.intermediates) {
    return ossl::CryptoError("trust store allocation");
  }
  const bool self_signed = internal::IsSelfSignedCert(cert.get());
  const bool root = self_signed || anchor;
  if (root && !self_signed) impl.partial_chain = true;
  STACK_OF(X509)* list = root ? impl.root_list : impl.intermediates;
  if (Contains(list, cert.get())) return OkStatus();
  if (root && X509_STORE_add_cert(impl.roots, cert.get()) != 1) {
    return ossl::CryptoError("X509_STORE_add_cert");
  }
  if (sk_X509_push(list, cert.get()) <= 0) return ossl::CryptoError("sk_X509_push");
  cert.release();
  return OkStatus();
}

}  // namespace

Status TrustStore::AddPem(std::string_view pem, bool anchor) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return ossl::CryptoError("BIO_new_mem_buf");
  std::vector<ossl::X509Ptr> certs;
  ERR_clear_error();
  while (ossl::X509Ptr c{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    certs.push_back(std::move(c));
  }
  unsigned long err = ERR_peek_last_error();
  bool clean_end = ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
  if (err != 0 && !clean_end) {
    return TrustError(Code::kInvalidArgument, "PEM certificate #" +
                                                  std::to_string(certs.size() + 1) +
                                                  " does not parse: " + ossl::DrainErrors());
  }
  ERR_clear_error();
  if (certs.empty()) return TrustError(Code::kInvalidArgument, "no PEM certificate found");
  for (auto& c : certs) TPMESH_RETURN_IF_ERROR(AddCert(*impl_, std::move(c), anchor));
  return OkStatus();
}

Status TrustStore::AddDer(ByteView der, bool anchor) {
  auto cert = internal::ParseDerCert(der, "DER certificate");
  if (!cert.ok()) return TrustError(Code::kInvalidArgument, cert.error().message);
  return AddCert(*impl_, std::move(cert).value(), anchor);
}

namespace {

// The certificate files directly in `dir`, sorted; a missing `dir` is an
// error only when `required`.
Result<std::vector<std::filesystem::path>> CertFiles(const std::string& dir, bool required) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  if (!required && !fs::exists(dir, ec)) return files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (ext != ".pem" && ext != ".crt" && ext != ".cer" && ext != ".der") continue;
    std::error_code type_ec;
    if (it->is_regular_file(type_ec)) files.push_back(it->path());
  }
  if (ec) {
    return TrustError(Code::kNotFound, "cannot read trust directory " + dir + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

Status LoadFile(TrustStore& store, const std::filesystem::path& f, bool anchor) {
  std::ifstream in(f, std::ios::binary);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return TrustError(Code::kNotFound, "cannot read trust file " + f.string());
  }
  // .crt/.cer may hold either encoding; a PEM armor line decides.
  bool pem = content.find("-----BEGIN") != std::string::npos;
  Status st = pem ? store.AddPem(content, anchor) : store.AddDer(AsView(content), anchor);
  if (!st.ok()) {
    return TrustError(Code::kInvalidArgument,
                      "trust file " + f.string() + ": " + st.error().message);
  }
  return OkStatus();
}

}  // namespace

Result<TrustStore> TrustStore::LoadDirectory(const std::string& dir) {
  TPMESH_ASSIGN_OR_RETURN(auto files, CertFiles(dir, true));
  TPMESH_ASSIGN_OR_RETURN(auto anchors, CertFiles(dir + "/anchors", false));
  TrustStore store;
  for (const auto& f : anchors) TPMESH_RETURN_IF_ERROR(LoadFile(store, f, true));
  for (const auto& f : files) TPMESH_RETURN_IF_ERROR(LoadFile(store, f, false));
  return store;
}

}  // namespace tpmesh::attest
