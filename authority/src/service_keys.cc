// AuthorityService: the authority's own keys: config-signing key and CA
// rotation, each announce -> switch -> retire with overlap (service.h).
#include "service_util.h"
#include "tpmesh/authority/service.h"

namespace tpmesh::authority {

Bytes AuthorityService::ConfigSigningPublic() const { return keys_.signing.current_public(); }

std::vector<SigningKeyInfo> AuthorityService::SigningKeysInfo() const {
  return keys_.signing.Info();
}

Status AuthorityService::RotateSigningKey(const std::string& actor, const std::string& reason) {
  if (!publisher_) {
    return MakeError(Code::kFailedPrecondition, "signing_rotation_unavailable",
                     "this authority publishes no configs to announce a config-signing key in");
  }
  std::lock_guard<std::mutex> lock(rot_mu_);
  const int64_t now = Now();
  TPMESH_RETURN_IF_ERROR(keys_.signing.Announce(rng_, now, INT64_MAX));
  keys_.signing.Configure(*publisher_);
  // Every generation committed after this read is published after Configure,
  // so it carries the announcement.
  TPMESH_ASSIGN_OR_RETURN(int64_t before, Generation());
  TPMESH_RETURN_IF_ERROR(keys_.signing.SetAnnounceGeneration(before + 1));
  auto info = keys_.signing.Info();
  return BumpAndPublish([&](Tx& tx, int64_t) -> Status {
    return tx.AppendAudit(AuditEntry{0, now, actor, "signing_key.announce", "", reason,
                                     "next config-signing key " +
                                         Base64Encode(info.back().public_key) +
                                         ", announced in configs signed by the current one"});
  });
}

// rot_mu_ held. Switch once every active node holds a generation carrying
// the announcement (or after the overlap); retire after the overlap.
Status AuthorityService::SigningTick(const std::vector<NodeRecord>& nodes) {
  if (!publisher_) return OkStatus();
  SigningKeys& keys = keys_.signing;
  const int64_t now = Now();
  const int64_t overlap = settings_.rotation.policy.overlap.count();
  const int64_t announced = keys.next_announce_generation();
  const bool all = keys.has_next() && EveryActiveNodeReported(nodes, [&](const NodeReport& r) {
                     return r.applied_generation >= announced;
                   });
  const keyrotate::KeyStep step = keys.Due(now, overlap, all);
  if (step == keyrotate::KeyStep::kSwitch) {
    const Bytes old = keys.current_public();
    TPMESH_RETURN_IF_ERROR(keys.Switch(now + overlap));
    keys.Configure(*publisher_);
    return BumpAndPublish([&](Tx& tx, int64_t) -> Status {
      return tx.AppendAudit(
          AuditEntry{0, now, "system", "signing_key.switch", "",
                     all ? "every active node holds the announcement" : "overlap elapsed",
                     "configs are now signed by " + Base64Encode(keys.current_public()) +
                         " and co-signed by " + Base64Encode(old) + " until " +
                         std::to_string(now + overlap)});
    });
  }
  if (step == keyrotate::KeyStep::kRetire) {
    TPMESH_RETURN_IF_ERROR(keys.Retire());
    keys.Configure(*publisher_);
    return BumpAndPublish([&](Tx& tx, int64_t) -> Status {
      return tx.AppendAudit(AuditEntry{0, now, "system", "signing_key.retire", "", "",
                                       "the previous config-signing key no longer co-signs"});
    });
  }
  return OkStatus();
}

std::shared_ptr<const pki::AuthorityCa> AuthorityService::CurrentCa() const {
  return keys_.cas.Current();
}

std::string AuthorityService::CaBundle() const { return keys_.cas.Bundle(); }

std::vector<CaInfo> AuthorityService::CasInfo() const { return keys_.cas.Info(); }

Status AuthorityService::RotateCa(const std::string& actor, const std::string& reason) {
  if (!publisher_) {
    return MakeError(Code::kFailedPrecondition, "ca_rotation_unavailable",
                     "this authority publishes no configs to wake its nodes with");
  }
  std::lock_guard<std::mutex> lock(rot_mu_);
  const int64_t now = Now();
  TPMESH_RETURN_IF_ERROR(keys_.cas.Announce(clock_.Now()));
  if (tls_reload_) TPMESH_RETURN_IF_ERROR(tls_reload_(keys_.cas.Tls()));
  const std::string fp = keys_.cas.Info().back().fingerprint;
  // A new generation wakes every node; its acknowledgement fetches the bundle.
  return BumpAndPublish([&](Tx& tx, int64_t) -> Status {
    return tx.AppendAudit(
        AuditEntry{0, now, actor, "ca.announce", "", reason,
                   "next authority CA sha256:" + fp + " added to the trust bundle"});
  });
}

// rot_mu_ held. Switch once every active node trusts the new bundle (or
// after the overlap); retire once every certificate the old CA issued expired.
Status AuthorityService::CaTick(const std::vector<NodeRecord>& nodes) {
  if (!publisher_) return OkStatus();
  CaKeys& cas = keys_.cas;
  const int64_t now = Now();
  const int64_t overlap = settings_.rotation.policy.overlap.count();
  const std::string want = cas.BundleSha256();
  const bool all = cas.has_next() && EveryActiveNodeReported(nodes, [&](const NodeReport& r) {
                     return r.ca_bundle_sha256 == want;
                   });
  const keyrotate::KeyStep step = cas.Due(now, overlap, all);
  if (step == keyrotate::KeyStep::kSwitch) {
    // Certificates the old CA issued (backdated by at most a tenth of their
    // lifetime) are valid until at most now + lifetime.
    const int64_t until = now + std::max<int64_t>(overlap, settings_.node_cert_lifetime.count());
    const std::string old_fp = cas.Info().front().fingerprint;
    TPMESH_RETURN_IF_ERROR(cas.Switch(clock_.Now(), until));
    if (tls_reload_) TPMESH_RETURN_IF_ERROR(tls_reload_(cas.Tls()));
    return BumpAndPublish([&](Tx& tx, int64_t) -> Status {
      return tx.AppendAudit(
          AuditEntry{0, now, "system", "ca.switch", "",
                     all ? "every active node trusts the new bundle" : "overlap elapsed",
                     "certificates are now issued by sha256:" + cas.Info().front().fingerprint +
                         "; sha256:" + old_fp + " stays trusted until " + std::to_string(until)});
    });
  }
  if (step == keyrotate::KeyStep::kRetire) {
    TPMESH_RETURN_IF_ERROR(cas.Retire());
    if (tls_reload_) TPMESH_RETURN_IF_ERROR(tls_reload_(cas.Tls()));
    return BumpAndPublish([&](Tx& tx, int64_t) -> Status {
      return tx.AppendAudit(AuditEntry{0, now, "system", "ca.retire", "", "",
                                       "the previous authority CA left the trust bundle"});
    });
  }
  return OkStatus();
}

}  // namespace tpmesh::authority
