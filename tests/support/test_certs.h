// Test certificate factory: CAs and TCG-profile EK certificates built with
// OpenSSL, for unit tests of EK certificate verification and for software
// TPM fixtures that need to provision an EK certificate.
//
// Usage:
//   auto root = MakeRootCa("Test Root");
//   auto ica = MakeIntermediate(root, "Test EK Issuer");
//   auto ek = MakeRsaKey();
//   Bytes der = MakeEkCert(ica, ek.get(), EkCertSpec{});
//
// EK certificates look like swtpm's: empty subject, critical SAN holding a
// directoryName with tpmManufacturer/tpmModel/tpmVersion (2.23.133.2.1/2/3),
// EKU 2.23.133.8.1, critical keyUsage, basicConstraints CA=FALSE.
// Failures are test bugs: every function throws std::runtime_error (with the
// OpenSSL error queue) rather than returning an error; gtest reports it.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/env.h"

namespace tpmesh::testing {

using PkeyPtr = std::shared_ptr<EVP_PKEY>;
using CertPtr = std::shared_ptr<X509>;

PkeyPtr MakeRsaKey(int bits = 2048);
PkeyPtr MakeEcP256Key();

// 2020-01-01 .. 2040-01-01 unless a test says otherwise.
struct Validity {
  TimePoint not_before = FromUnixSeconds(1'577'836'800);
  TimePoint not_after = FromUnixSeconds(2'208'988'800);
};

// A CA certificate (CN=name, CA=TRUE, keyCertSign) and its EC P-256 key.
struct TestCa {
  std::string name;
  PkeyPtr key;
  CertPtr cert;

  Bytes Der() const;
  std::string Pem() const;
};

TestCa MakeRootCa(const std::string& name, const Validity& validity = {});
TestCa MakeIntermediate(const TestCa& parent, const std::string& name,
                        const Validity& validity = {});

// An extra extension added verbatim (value = the extension's DER contents).
struct RawExtension {
  std::string oid;
  Bytes value;
  bool critical = false;
};

struct EkCertSpec {
  std::string manufacturer = "id:49465800";  // "IFX" (Infineon)
  std::string model = "SLB9670";
  std::string version = "id:00070055";
  Validity validity;
  bool is_ca = false;       // basicConstraints CA=TRUE
  bool include_san = true;  // the TCG directoryName SAN
  bool san_critical = true;
  bool include_manufacturer = true;
  bool include_eku = true;
  std::string eku_oid = "2.23.133.8.1";  // tcg-kp-EKCertificate
  bool include_key_usage = true;         // critical; keyEncipherment (RSA) / keyAgreement (EC)
  std::vector<RawExtension> extra_extensions;
};

// DER EK certificate for `ek_key` (public part), signed by `issuer`.
Bytes MakeEkCert(const TestCa& issuer, EVP_PKEY* ek_key, const EkCertSpec& spec = {});

std::string DerToPem(ByteView der);

}  // namespace tpmesh::testing
