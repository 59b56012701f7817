// A whole authority in process, for unit tests of its clients: the real
// AuthorityService over a SQLite store in a temporary directory, its API
// handler, a config publisher, and its keys in a state directory made as
// `tpmesh-authority init` makes one (authority_keys.h: CaKeys and
// SigningKeys, so CA and signing-key rotation work), on a FakeClock. EKs are trusted under
// SoftTpm::TrustedRoot(); admission is by EK allowlist (Enroll adds the EK first). Key rotation is
// not scheduled; RotationTick is the test's to call.
//
// Not a library of its own: list inproc_authority.cc in the test's SOURCES
// and link tpmesh_authority. Thread-safety: as AuthorityService (Call may be
// used from any thread). `clock` must outlive it.
#pragma once

#include <memory>
#include <string>

#include "tests/support/authority_keys.h"
#include "tests/support/fake_env.h"
#include "tests/support/soft_tpm.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/service.h"
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

  FakeClock& clock_;
  TempDir dir_{"tpmesh-inproc-authority"};
  std::unique_ptr<authority::Store> store_;
  attest::TrustStore trust_;
  AuthorityKeyFiles keys_;
  Bytes signing_public_;  // the config-signing key `init` made
  authority::ConfigPublisher publisher_{SecretBytes(Bytes(64, 7))};  // keys from Configure
  std::unique_ptr<authority::AuthorityService> service_;
  net::Handler handler_;
};

}  // namespace tpmesh::testing
