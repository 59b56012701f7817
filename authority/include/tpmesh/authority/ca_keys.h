// The authority CA and its rotation with overlap, kept as files in the
// state directory by the one mechanism of rotating_key_files.h (0600, atomic
// writes, crash-consistent Load), like signing_keys.h:
//
//   ca.crt / ca.key             the current CA: issues node, server, admin certs
//   ca.next.crt / ca.next.key   announced: in the bundle, not yet issuing
//   ca.next.meta                "<announced_at>"
//   ca.old.crt, ca.old.meta     retired: still in the bundle (client certs it
//                               issued stay valid) until "<until>"
//   server.crt / server.key     the TLS server certificate (+ its CA)
//   admin.crt / admin.key       the local admin's client certificate
//
// Lifecycle (keyrotate::KeyLifecycle; service.h RotationTick drives it):
//   Announce  a new CA; the bundle (what clients trust and the server accepts
//             client certificates from) becomes [current, next]. Nodes fetch
//             it through their acknowledgement answers.
//   Switch    next becomes current: it issues every certificate from now on;
//             the server and admin certificates are re-issued by it at once;
//             the bundle is [current, old] until every certificate the old
//             CA issued has expired.
//   Retire    the old CA leaves the bundle; its key was already deleted at
//             the switch (nothing can be issued by it after the switch).
//
// Thread-safety: all methods are thread-safe. Current() hands out a
// shared_ptr, so a certificate being issued while the CA switches completes
// with the CA it started with.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tpmesh/authority/rotating_key_files.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"
#include "tpmesh/keyrotate/lifecycle.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::authority {

struct CaInfo {
  std::string fingerprint;  // hex SHA-256 of the DER
  std::string state;        // "current", "next", "retired"
  int64_t since = 0;        // next: announced at
  int64_t until = 0;        // retired: leaves the bundle at
};

struct TlsFiles {
  std::string cert_pem;       // server certificate chain
  std::string key_pem;        // secret
  std::string client_ca_pem;  // the bundle
};

class CaKeys {
 public:
  // Errors: "state_corrupt" naming the file; pki errors for unreadable PEM.
  [[nodiscard]] static Result<std::unique_ptr<CaKeys>> Load(const std::string& state_dir);

  std::shared_ptr<const pki::AuthorityCa> Current() const;
  std::string Bundle() const;        // PEM: current, then next or old
  std::string BundleSha256() const;  // hex SHA-256 of Bundle()'s bytes
  TlsFiles Tls() const;
  std::vector<CaInfo> Info() const;
  bool has_next() const;
  bool has_old() const;
  int64_t next_announced_at() const;
  int64_t old_until() const;
  // What RotationTick should do now (keyrotate::KeyLifecycle::Due).
  keyrotate::KeyStep Due(int64_t now, int64_t overlap, bool every_node_holds_next) const;

  // Errors: "rotation_in_progress" (a next or a retired CA exists).
  [[nodiscard]] Status Announce(TimePoint now);
  // Errors: "no_next_key". `until`: when the old CA leaves the bundle.
  [[nodiscard]] Status Switch(TimePoint now, int64_t until);
  [[nodiscard]] Status Retire();

 private:
  // One version: the CA (certificate and key) while it is current or next;
  // only its certificate once it is old (ca.old.crt).
  struct Version {
    std::shared_ptr<const pki::AuthorityCa> ca;  // null once old
    std::string cert_pem;
    std::string fingerprint;

    // The version type of RotatingKeyFiles (rotating_key_files.h).
    static Result<Version> Read(const KeyFiles& files, KeySlot slot);
    KeyFiles::Contents Files(KeySlot slot) const;
    std::string Id() const { return fingerprint; }
    Version Retired() && { return Version{nullptr, std::move(cert_pem), std::move(fingerprint)}; }
  };
  CaKeys(RotatingKeyFiles<Version> cas, std::string server_cert_pem, std::string server_key_pem);
  std::string Path(const char* name) const { return cas_.files().dir() + "/" + name; }
  void RefreshBundle();  // mu_ held: recomputes bundle_ and bundle_sha256_

  mutable std::mutex mu_;
  RotatingKeyFiles<Version> cas_;
  std::string server_cert_pem_, server_key_pem_;
  std::string bundle_, bundle_sha256_;  // derived from the CAs above
};

}  // namespace tpmesh::authority
