// X.509 for tpmesh's own PKI (not EK certificates: those are attest/ekcert.h):
// the authority CA, node and admin client certificates for mutual TLS, the
// authority's TLS server certificate, and the node-side key + CSR.
//
// Identities are carried in a URI subjectAltName: "tpmesh://node/<node_id>"
// or "tpmesh://admin/<name>"; the CN repeats them for humans.
// Keys are ECDSA P-256. Private key PEM is returned in SecretString-like
// std::string buffers that callers must wipe (sodium_memzero) when done; files
// holding them are written 0600 (WritePrivateFile).
//
// Thread-safety: AuthorityCa is immutable after creation/loading; its methods
// are safe to call concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh::pki {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;  // secret
};

enum class PeerKind { kNode, kAdmin };

struct PeerIdentity {
  PeerKind kind = PeerKind::kNode;
  std::string id;      // node id or admin name
  std::string serial;  // certificate serial, hex
  TimePoint not_after;
};

class AuthorityCa {
 public:
  AuthorityCa();
  ~AuthorityCa();
  AuthorityCa(AuthorityCa&&) noexcept;
  AuthorityCa& operator=(AuthorityCa&&) noexcept;

  // New self-signed CA (ECDSA P-256, CA:TRUE pathlen 0, keyCertSign|cRLSign),
  // valid from now - 1 h for `lifetime`.
  [[nodiscard]] static Result<AuthorityCa> Create(std::string_view common_name, TimePoint now,
                                                  std::chrono::seconds lifetime);
  // From PEM text; the key must match the certificate.
  [[nodiscard]] static Result<AuthorityCa> Load(std::string_view cert_pem,
                                                std::string_view key_pem);

  const std::string& cert_pem() const;
  std::string key_pem() const;  // secret: caller wipes
  // Hex SHA-256 of the CA certificate's DER: what clients pin.
  std::string Fingerprint() const;

  // Issues a node client certificate for the key in `csr_pem` (CSR signature
  // must verify; EC P-256/P-384 or Ed25519 keys only), serial random, EKU
  // clientAuth, SAN URI tpmesh://node/<node_id>. kInvalidArgument
  // ("invalid_csr") for a bad CSR. `serial`, when not null, receives the
  // certificate's serial as PeerIdentity::serial spells it.
  [[nodiscard]] Result<std::string> IssueNodeCert(std::string_view csr_pem,
                                                  std::string_view node_id, TimePoint now,
                                                  std::chrono::seconds lifetime,
                                                  std::string* serial = nullptr) const;
  // Generates a key and issues an admin client certificate.
  [[nodiscard]] Result<CertAndKey> IssueAdminCert(std::string_view name, TimePoint now,
                                                  std::chrono::seconds lifetime) const;
  // Generates a key and issues a TLS server certificate (EKU serverAuth) for
  // the given DNS names and IP addresses (v4 or v6 literals).
  [[nodiscard]] Result<CertAndKey> IssueServerCert(const std::vector<std::string>& dns_names,
                                                   const std::vector<std::string>& ip_addresses,
                                                   TimePoint now,
                                                   std::chrono::seconds lifetime) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Reads the tpmesh identity of a certificate (PEM or DER) that has already
// been verified against the CA by TLS. kUnauthenticated if it has none.
[[nodiscard]] Result<PeerIdentity> IdentityFromCertPem(std::string_view cert_pem);
[[nodiscard]] Result<PeerIdentity> IdentityFromCertDer(const uint8_t* der, size_t len);

// Node side: a fresh ECDSA P-256 key (PEM, secret) and a CSR for it.
[[nodiscard]] Result<std::string> GenerateKeyPem();
[[nodiscard]] Result<std::string> MakeCsr(std::string_view key_pem, std::string_view common_name);

// The DNS names and IP addresses (text form) in a certificate's SAN.
struct ServerNames {
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
};
[[nodiscard]] Result<ServerNames> ServerCertNames(std::string_view cert_pem);

// Hex SHA-256 fingerprints of every certificate in a PEM bundle.
[[nodiscard]] Result<std::vector<std::string>> BundleFingerprints(std::string_view pem_bundle);

// Writes `data` to `path` atomically (temp file + rename) with mode 0600.
// The parent directory must exist; it is not created.
[[nodiscard]] Status WritePrivateFile(const std::string& path, std::string_view data);
// Creates `dir` (and parents) with mode 0700, or checks an existing one is a
// directory not accessible by group/others (kFailedPrecondition otherwise).
[[nodiscard]] Status EnsurePrivateDir(const std::string& dir);
[[nodiscard]] Result<std::string> ReadFile(const std::string& path);

}  // namespace tpmesh::pki
