// Internal: TrustStore's representation, shared by trust_store.cc (loading)
// and ekcert.cc (chain building). Not a public header.
#pragma once

#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "tpmesh/attest/ekcert.h"

namespace tpmesh::attest {

// Owns every certificate it holds; roots are the self-signed ones and the
// anchors chosen on purpose, the rest are untrusted chain hints. Not copyable; used read-only after
// loading.
struct TrustStore::Impl {
  X509_STORE* roots = X509_STORE_new();
  STACK_OF(X509) * root_list = sk_X509_new_null();      // for counting / dedupe
  STACK_OF(X509) * intermediates = sk_X509_new_null();  // untrusted chain hints
  // An anchor chosen on purpose that is not self-signed (a vendor root
  // cross-signed by a CA the operator does not trust): chains may end at
  // it (X509_V_FLAG_PARTIAL_CHAIN, which only ever applies to this store).
  bool partial_chain = false;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    X509_STORE_free(roots);
    sk_X509_pop_free(root_list, X509_free);
    sk_X509_pop_free(intermediates, X509_free);
  }
};

}  // namespace tpmesh::attest
