// The authority's keys for tests and benchmarks, the product's one way:
// `dir` initialized as `tpmesh-authority init` does (InitState: CA, server
// and admin certificates, config-signing key, and a database nobody else
// opens), then loaded as `serve` does (SigningKeys::Load, CaKeys::Load).
//
// Header-only: the includer links tpmesh_authority. Not thread-safe.
#pragma once

#include <sodium.h>

#include <memory>
#include <string>

#include "tpmesh/authority/ca_keys.h"
#include "tpmesh/authority/service.h"
#include "tpmesh/authority/signing_keys.h"
#include "tpmesh/authority/state.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh::testing {

struct AuthorityKeyFiles {
  std::string dir;  // the state directory holding the key files
  std::unique_ptr<authority::SigningKeys> signing;
  std::unique_ptr<authority::CaKeys> cas;

  // For AuthorityService; *this must outlive the service.
  authority::AuthorityKeys keys() const { return authority::AuthorityKeys{*signing, *cas}; }
};

// `dir` must not exist yet or hold no authority file. The CA is made at
// clock.Now(). Errors: InitState's, the loaders'.
inline Result<AuthorityKeyFiles> InitAuthorityKeys(const std::string& dir, const Clock& clock) {
  if (sodium_init() < 0)
    return MakeError(Code::kInternal, "sodium_init", "libsodium failed to initialize");
  authority::InitOptions init;
  init.state_dir = dir;
  init.mesh_prefix = "fd12:3456:789a::/48";
  auto made = authority::InitState(init, clock, SystemRandom::Instance());
  if (!made.ok()) return made.take_error();
  AuthorityKeyFiles k;
  k.dir = dir;
  TPMESH_ASSIGN_OR_RETURN(k.signing, authority::SigningKeys::Load(dir));
  TPMESH_ASSIGN_OR_RETURN(k.cas, authority::CaKeys::Load(dir));
  return k;
}

}  // namespace tpmesh::testing
