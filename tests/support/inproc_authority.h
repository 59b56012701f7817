// A whole authority in process, for unit tests of its clients: the real
// AuthorityService over a SQLite store in a temporary directory, its API
// handler, a config publisher, CA files (CaKeys: CA rotation works) and
// config-signing key files (SigningKeys: signing-key rotation works), on a
// FakeClock. EKs are trusted under SoftTpm::TrustedRoot(); admission is by
// EK allowlist (Enroll adds the EK first). Key rotation is not scheduled;
// RotationTick is the test's to call.
//
// Not a library of its own: list inproc_authority.cc in the test's SOURCES
// and link tpmesh_authority. Thread-safety: as AuthorityService (Call may be
// used from any thread). `clock` must outlive it.
#pragma once

#include <memory>
#include <string>

#include "tests/support/fake_env.h"
#include "tests/support/soft_tpm.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/authority/ca_keys.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/signing_keys.h"
#include "tpmesh/authority/store.h"
#include "tpmesh/net/http.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::testing {

class InProcessAuthority {
 public:
  // Errors: the store's, the CA's and the key files'.
  [[nodiscard]] static Result<std::unique_ptr<InProcessAuthority>> Create(FakeClock& clock);
  ~InProcessAuthority();

  // The API handler, as the HTTPS server would call it.
  net::HttpResponse Call(const std::string& method, const std::string& path,
                         const std::string& body, const net::Caller& caller);
  // A handler that forwards to Call (for InProcessNet).
  net::Handler handler();

  struct Enrolled {
    proto::EnrollFinishResponse result;  // node.json's content
    attest::AkBlob ak;                   // ak.blob's content
  };
  // Allowlists `tpm`'s ECC EK and enrolls it with `wg_public` and a CSR for
  // the node key `key_pem`. Errors: any answer but 200 (body in the message).
  [[nodiscard]] Result<Enrolled> Enroll(SoftTpm& tpm, const std::string& hostname,
                                        const Bytes& wg_public, const std::string& key_pem);

  authority::AuthorityService& service() { return *service_; }
  authority::ConfigPublisher& publisher() { return publisher_; }
  const Bytes& original_signing_key() const { return signing_public_; }

 private:
  explicit InProcessAuthority(FakeClock& clock) : clock_(clock) {}
  Status Init();
  Status WriteCaFiles();

  FakeClock& clock_;
  TempDir dir_{"tpmesh-inproc-authority"};
  std::unique_ptr<authority::Store> store_;
  pki::AuthorityCa ca_;
  attest::TrustStore trust_;
  Bytes signing_public_;
  authority::ConfigPublisher publisher_{SecretBytes(Bytes(64, 7))};
  std::unique_ptr<authority::SigningKeys> signing_;
  std::unique_ptr<authority::CaKeys> cas_;
  std::unique_ptr<authority::AuthorityService> service_;
  net::Handler handler_;
};

}  // namespace tpmesh::testing
