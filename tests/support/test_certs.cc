#include "tests/support/test_certs.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <stdexcept>

namespace tpmesh::testing {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  std::string errs;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    errs += std::string(errs.empty() ? "" : "; ") + buf;
  }
  throw std::runtime_error("test_certs: " + what + ": " + errs);
}

void Check(bool ok, const char* what) {
  if (!ok) Fail(what);
}

CertPtr NewCert(X509* c) { return CertPtr(c, X509_free); }

std::atomic<long> next_serial{1000};

// Fresh v3 certificate with serial, validity, subject CN (empty if `cn` is
// empty), issuer and public key set; not yet signed.
CertPtr Skeleton(const std::string& cn, X509_NAME* issuer_name, EVP_PKEY* pub, const Validity& v) {
  CertPtr c = NewCert(X509_new());
  Check(c != nullptr, "X509_new");
  Check(X509_set_version(c.get(), X509_VERSION_3) == 1, "X509_set_version");
  Check(ASN1_INTEGER_set(X509_get_serialNumber(c.get()), next_serial++) == 1, "serial");
  Check(ASN1_TIME_set(X509_getm_notBefore(c.get()), ToUnixSeconds(v.not_before)) != nullptr,
        "notBefore");
  Check(ASN1_TIME_set(X509_getm_notAfter(c.get()), ToUnixSeconds(v.not_after)) != nullptr,
        "notAfter");
  if (!cn.empty()) {
    X509_NAME* subject = X509_get_subject_name(c.get());
    Check(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                     0) == 1,
          "subject CN");
  }
  if (issuer_name == nullptr) issuer_name = X509_get_subject_name(c.get());
  Check(X509_set_issuer_name(c.get(), issuer_name) == 1, "issuer");
  Check(X509_set_pubkey(c.get(), pub) == 1, "X509_set_pubkey");
  return c;
}

void AddConf(X509* c, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, c, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  Check(ext != nullptr, value);
  int ok = X509_add_ext(c, ext, -1);
  X509_EXTENSION_free(ext);
  Check(ok == 1, "X509_add_ext");
}

void Sign(X509* c, EVP_PKEY* key) { Check(X509_sign(c, key, EVP_sha256()) > 0, "X509_sign"); }

TestCa MakeCa(const TestCa* parent, const std::string& name, const Validity& v) {
  TestCa ca{name, MakeEcP256Key(), nullptr};
  ca.cert =
      Skeleton(name, parent ? X509_get_subject_name(parent->cert.get()) : nullptr, ca.key.get(), v);
  X509* issuer = parent ? parent->cert.get() : ca.cert.get();
  AddConf(ca.cert.get(), issuer, NID_basic_constraints, "critical,CA:TRUE");
  AddConf(ca.cert.get(), issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  AddConf(ca.cert.get(), issuer, NID_subject_key_identifier, "hash");
  if (parent) AddConf(ca.cert.get(), issuer, NID_authority_key_identifier, "keyid:always");
  Sign(ca.cert.get(), parent ? parent->key.get() : ca.key.get());
  return ca;
}

Bytes CertDer(X509* c) {
  unsigned char* der = nullptr;
  int len = i2d_X509(c, &der);
  Check(len > 0, "i2d_X509");
  Bytes out(der, der + len);
  OPENSSL_free(der);
  return out;
}

void AddTcgSan(X509* c, const EkCertSpec& spec) {
  X509_NAME* dn = X509_NAME_new();
  Check(dn != nullptr, "X509_NAME_new");
  auto add = [&](const char* oid, const std::string& value) {
    Check(X509_NAME_add_entry_by_txt(dn, oid, MBSTRING_UTF8,
                                     reinterpret_cast<const unsigned char*>(value.c_str()), -1, -1,
                                     0) == 1,
          oid);
  };
  if (spec.include_manufacturer) add("2.23.133.2.1", spec.manufacturer);
  add("2.23.133.2.2", spec.model);
  add("2.23.133.2.3", spec.version);
  GENERAL_NAME* gn = GENERAL_NAME_new();
  Check(gn != nullptr, "GENERAL_NAME_new");
  GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dn);
  GENERAL_NAMES* names = sk_GENERAL_NAME_new_null();
  Check(names != nullptr && sk_GENERAL_NAME_push(names, gn) > 0, "GENERAL_NAMES");
  int ok = X509_add1_ext_i2d(c, NID_subject_alt_name, names, spec.san_critical ? 1 : 0,
                             X509V3_ADD_DEFAULT);
  GENERAL_NAMES_free(names);
  Check(ok == 1, "SAN");
}

void AddRaw(X509* c, const RawExtension& raw) {
  ASN1_OBJECT* obj = OBJ_txt2obj(raw.oid.c_str(), 1);
  Check(obj != nullptr, "OBJ_txt2obj");
  ASN1_OCTET_STRING* data = ASN1_OCTET_STRING_new();
  Check(data != nullptr &&
            ASN1_OCTET_STRING_set(data, raw.value.data(), static_cast<int>(raw.value.size())) == 1,
        "extension value");
  X509_EXTENSION* ext = X509_EXTENSION_create_by_OBJ(nullptr, obj, raw.critical ? 1 : 0, data);
  ASN1_OBJECT_free(obj);
  ASN1_OCTET_STRING_free(data);
  Check(ext != nullptr, "X509_EXTENSION_create_by_OBJ");
  int ok = X509_add_ext(c, ext, -1);
  X509_EXTENSION_free(ext);
  Check(ok == 1, "X509_add_ext");
}

}  // namespace

PkeyPtr MakeRsaKey(int bits) {
  EVP_PKEY* k = EVP_RSA_gen(static_cast<unsigned int>(bits));
  Check(k != nullptr, "EVP_RSA_gen");
  return PkeyPtr(k, EVP_PKEY_free);
}

PkeyPtr MakeEcP256Key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  Check(k != nullptr, "EVP_EC_gen");
  return PkeyPtr(k, EVP_PKEY_free);
}

Bytes TestCa::Der() const { return CertDer(cert.get()); }
std::string TestCa::Pem() const { return DerToPem(Der()); }

TestCa MakeRootCa(const std::string& name, const Validity& validity) {
  return MakeCa(nullptr, name, validity);
}

TestCa MakeIntermediate(const TestCa& parent, const std::string& name, const Validity& validity) {
  return MakeCa(&parent, name, validity);
}

Bytes MakeEkCert(const TestCa& issuer, EVP_PKEY* ek_key, const EkCertSpec& spec) {
  CertPtr c = Skeleton("", X509_get_subject_name(issuer.cert.get()), ek_key, spec.validity);
  X509* ic = issuer.cert.get();
  if (spec.include_san) AddTcgSan(c.get(), spec);
  AddConf(c.get(), ic, NID_basic_constraints,
          spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (spec.include_eku) AddConf(c.get(), ic, NID_ext_key_usage, spec.eku_oid.c_str());
  if (spec.include_key_usage) {
    bool rsa = EVP_PKEY_get_base_id(ek_key) == EVP_PKEY_RSA;
    AddConf(c.get(), ic, NID_key_usage, rsa ? "critical,keyEncipherment" : "critical,keyAgreement");
  }
  AddConf(c.get(), ic, NID_authority_key_identifier, "keyid:always");
  for (const RawExtension& raw : spec.extra_extensions) AddRaw(c.get(), raw);
  Sign(c.get(), issuer.key.get());
  return CertDer(c.get());
}

std::string DerToPem(ByteView der) {
  const unsigned char* p = der.data();
  X509* c = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  Check(c != nullptr, "d2i_X509");
  CertPtr cert = NewCert(c);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  Check(bio != nullptr && PEM_write_bio_X509(bio.get(), c) == 1, "PEM_write_bio_X509");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace tpmesh::testing
