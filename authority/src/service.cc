// AuthorityService: enrollment, publishing and node reports (service.h).
// Renewal: service_renew.cc; admin operations: service_admin.cc; key
// rotation: service_rotation.cc and service_keys.cc.
#include "tpmesh/authority/service.h"

#include <algorithm>
#include <cstdio>

#include "admission.h"
#include "mesh_view.h"
#include "service_util.h"
#include "store_util.h"
#include "tpmesh/attest/tpm_public.h"

namespace tpmesh::authority {
using internal::InTx;
using internal::NodeNotFound;
using internal::Revoked;

std::string NodeIdFromEk(ByteView ek_sha256) {
  return HexEncode(ek_sha256.subspan(0, std::min<size_t>(10, ek_sha256.size())));
}

AuthorityService::AuthorityService(Store& store, const attest::TrustStore& trust,
                                   AuthorityKeys keys, AuthoritySettings settings,
                                   const Clock& clock, Random& rng)
    : store_(store),
      trust_(trust),
      keys_(std::move(keys)),
      settings_(std::move(settings)),
      clock_(clock),
      rng_(rng),
      verifier_(trust_,
                attest::VerifierOptions{.allow_software_tpm = settings_.dev_mode,
                                        .require_ek_cert = false,
                                        .selection = settings_.pcr_selection,
                                        .challenge_ttl = settings_.challenge_ttl,
                                        .ek_chain_time = settings_.ek_chain_time},
                clock_, rng_),
      view_(std::make_unique<internal::MeshView>(internal::MeshView::Params{
          settings_.mesh_prefix, settings_.mtu, settings_.persistent_keepalive,
          [this](const std::string& line) { Log(line); }})) {
  observer_id_ =
      store_.AddCommitObserver([view = view_.get()](const CommitInfo& c) { view->Apply(c); });
}

AuthorityService::~AuthorityService() { store_.RemoveCommitObserver(observer_id_); }

int64_t AuthorityService::Now() const { return ToUnixSeconds(clock_.Now()); }

void AuthorityService::Log(const std::string& line) const {
  if (settings_.log) {
    settings_.log(line);
  } else {
    std::fprintf(stderr, "tpmesh-authority: %s\n", line.c_str());
  }
}

Result<proto::EnrollStartResponse> AuthorityService::EnrollStart(
    const proto::EnrollStartRequest& req) {
  attest::EnrollEvidence evidence{req.ek_public, req.ek_cert, req.ek_intermediates, req.ak_public};
  TPMESH_ASSIGN_OR_RETURN(auto begun, verifier_.Begin(evidence));
  // The claimed EK algorithm is recorded: it must be the key's.
  if (auto ek = attest::ParseTpm2bPublic(req.ek_public); ek.ok()) {
    TPMESH_RETURN_IF_ERROR(attest::CheckKeyAlg(*ek, req.ek_alg, "ek_alg"));
  }
  auto& [challenge, pending] = begun;

  ChallengeRecord rec;
  Bytes id(16);
  rng_.Fill(id);
  rec.id = HexEncode(id);
  rec.kind = ChallengeKind::kEnrollment;
  rec.hostname = req.hostname;
  rec.ek_alg = req.ek_alg;
  rec.secret = std::move(pending.secret);
  rec.nonce = pending.nonce;
  rec.selection = pending.selection;
  rec.ek_public = pending.ek_public;
  rec.ak_public = pending.ak_public;
  rec.ek_name = pending.ek_name;
  rec.ak_name = pending.ak_name;
  rec.ek_sha256 = pending.ek_spki_sha256;
  rec.has_ek_cert = pending.ek_cert.has_value();
  if (rec.has_ek_cert && req.ek_cert) {
    rec.ek_cert = *req.ek_cert;
    rec.ek_intermediates = req.ek_intermediates;
  }
  rec.expires_at = ToUnixSeconds(pending.expires);

  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(auto existing, tx.FindNodeByEk(rec.ek_sha256));
    if (existing && existing->status == NodeStatus::kRevoked) return Revoked(*existing);
    TPMESH_ASSIGN_OR_RETURN(auto holder, tx.FindNodeByHostname(req.hostname));
    if (holder && holder->ek_sha256 != rec.ek_sha256) {
      return attest::CheckFailure(
          attest::Check::kIdentityChanged,
          "hostname '" + req.hostname + "' belongs to node " + holder->node_id +
              " with a different EK; a different machine cannot take over its identity");
    }
    // Every enrollment, first or repeated: the EK certificate (checks 1, 2,
    // 14, 15, just run) or the allowlist vouches for the TPM.
    if (!rec.has_ek_cert) TPMESH_RETURN_IF_ERROR(NoCertAllowed(tx, rec.ek_sha256));
    TPMESH_RETURN_IF_ERROR(tx.DeleteExpiredChallenges(Now()));
    return tx.PutChallenge(rec);
  }));

  proto::EnrollStartResponse out;
  out.challenge_id = rec.id;
  out.credential = std::move(challenge.credential);
  out.nonce = challenge.nonce;
  out.pcr_selection = challenge.selection;
  out.expires_at = rec.expires_at;
  return out;
}

Status AuthorityService::NoCertAllowed(Tx& tx, ByteView ek_sha256) {
  TPMESH_ASSIGN_OR_RETURN(bool allowed, tx.IsAllowlisted(ek_sha256));
  return internal::CheckNoCertAllowed(ek_sha256, allowed, settings_.admission.allowlist);
}

Result<std::optional<attest::PcrPolicy>> AuthorityService::PolicyFor(
    Tx& tx, const std::optional<NodeRecord>& node) {
  std::string name =
      node && !node->pcr_policy.empty() ? node->pcr_policy : settings_.default_policy;
  if (name.empty()) return std::optional<attest::PcrPolicy>();
  TPMESH_ASSIGN_OR_RETURN(auto rec, tx.GetPolicy(name));
  if (!rec) {
    return MakeError(Code::kFailedPrecondition, "policy_missing",
                     "PCR policy '" + name +
                         "' is configured but does not exist; create it "
                         "with 'tpmeshctl policy adopt'");
  }
  return std::optional<attest::PcrPolicy>(rec->policy);
}

Result<proto::EnrollFinishResponse> AuthorityService::EnrollFinish(
    const proto::EnrollFinishRequest& req) {
  // 1. Take the challenge: single use even if everything after fails.
  std::optional<ChallengeRecord> taken;
  std::optional<NodeRecord> known;
  std::optional<attest::PcrPolicy> policy;
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    TPMESH_ASSIGN_OR_RETURN(taken, tx.TakeChallenge(req.challenge_id, ChallengeKind::kEnrollment));
    if (!taken) return OkStatus();
    TPMESH_ASSIGN_OR_RETURN(known, tx.FindNodeByEk(taken->ek_sha256));
    TPMESH_ASSIGN_OR_RETURN(policy, PolicyFor(tx, known));
    return OkStatus();
  }));
  if (!taken) {
    return attest::CheckFailure(attest::Check::kActivationSecret,
                                "unknown or already used challenge: each challenge answers once; "
                                "start enrollment again");
  }
  if (taken->hostname != req.hostname) {
    return MakeError(Code::kInvalidArgument, "invalid_request",
                     "hostname: differs from the one the challenge was issued for");
  }

  // 2. Attestation checks 6-11 (no transaction held).
  attest::PendingChallenge pending;
  pending.secret = std::move(taken->secret);
  pending.nonce = taken->nonce;
  pending.selection = taken->selection;
  pending.ek_public = taken->ek_public;
  pending.ak_public = taken->ak_public;
  pending.ek_name = taken->ek_name;
  pending.ak_name = taken->ak_name;
  pending.ek_spki_sha256 = taken->ek_sha256;
  pending.expires = FromUnixSeconds(taken->expires_at);
  attest::ChallengeResponse response{SecretBytes(req.secret.view()), req.quote};
  response.quote.selection = taken->selection;
  TPMESH_ASSIGN_OR_RETURN(auto attested,
                          verifier_.Complete(pending, response, policy ? &*policy : nullptr));
  if (known && known->ak_name == attested.ak_name) {
    // Check 12 with the same AK: the TPM's counters must not go backwards.
    // (The TPM obfuscates resetCount/restartCount per signing key outside
    // the endorsement hierarchy, so values from different AKs don't compare.)
    TPMESH_RETURN_IF_ERROR(attest::CheckQuoteTiming(known->tpm_clock, attested.quote.clock));
  }

  const std::string node_id = NodeIdFromEk(attested.ek_spki_sha256);
  TPMESH_ASSIGN_OR_RETURN(IssuedNodeCert cert, IssueNodeCert(req.csr_pem, node_id));
  return AdmitAndRecord(req, *taken, attested, policy, std::move(cert));
}

void AuthorityService::FillEnrolledNode(NodeRecord& node, bool is_new,
                                        const std::string& admitted_by,
                                        const proto::EnrollFinishRequest& req,
                                        const ChallengeRecord& taken,
                                        const attest::AttestedNode& attested,
                                        const std::optional<attest::PcrPolicy>& policy,
                                        const IssuedNodeCert& cert, int64_t now) {
  const bool active = !admitted_by.empty();
  if (is_new) {
    node.node_id = NodeIdFromEk(attested.ek_spki_sha256);
    node.ek_sha256 = attested.ek_spki_sha256;
    node.enrolled_at = now;
    node.pcr_policy = policy ? policy->name : "";
  }
  node.hostname = req.hostname;
  node.status = active ? NodeStatus::kActive : NodeStatus::kPending;
  node.status_reason = active ? "admitted by " + admitted_by : "waiting for approval";
  node.ek_public = attested.ek_public;
  node.ek_name = attested.ek_name;
  node.ak_public = attested.ak_public;
  node.ak_name = attested.ak_name;
  if (is_new || node.wg_public_key != req.wg_public_key) {
    // A (re-)enrollment brings a new key: any rotation in flight is void.
    node.wg_key_since = now;
    node.next_wg_public_key.clear();
    node.rotate_requested_at = 0;
  }
  node.wg_public_key = req.wg_public_key;
  node.endpoints = req.endpoints;
  node.pcr_values = attested.pcr_values;
  node.tpm_clock = attested.quote.clock;
  node.ek_evidence_stored = true;
  node.ek_cert = taken.ek_cert;
  node.ek_intermediates = taken.ek_intermediates;
  // Re-enrollment ends every certificate issued before it; a pending node
  // gets none (it enrolls again once approved).
  EndCertificates(node);
  if (active) {
    node.cert_serial = cert.serial;
    node.cert_not_after = cert.not_after;
  }
  node.updated_at = now;
  node.last_seen = now;
  node.enroll_count += 1;
}

namespace {

// Step 3's admission facts (admission.h), read in its transaction.
Result<internal::AdmissionFacts> ReadAdmissionFacts(Tx& tx, const AdmissionSettings& settings,
                                                    const proto::EnrollFinishRequest& req,
                                                    const ChallengeRecord& taken,
                                                    const attest::AttestedNode& attested,
                                                    std::optional<NodeRecord> existing,
                                                    int64_t now) {
  internal::AdmissionFacts f;
  f.hostname = req.hostname;
  f.ek_sha256 = attested.ek_spki_sha256;
  f.has_ek_cert = taken.has_ek_cert;
  TPMESH_ASSIGN_OR_RETURN(f.allowlisted, tx.IsAllowlisted(f.ek_sha256));
  f.existing = std::move(existing);
  TPMESH_ASSIGN_OR_RETURN(f.holder, tx.FindNodeByHostname(req.hostname));
  f.token_given = req.token.has_value();
  if (req.token) {
    TPMESH_ASSIGN_OR_RETURN(f.token, tx.FindTokenByHash(internal::TokenHash(*req.token)));
  }
  f.settings = settings;
  f.now = now;
  return f;
}

AuditEntry EnrollAudit(const NodeRecord& node, bool active, bool is_new,
                       const std::string& previous_hostname, const MeshPrefix& mesh, int64_t now) {
  AuditEntry audit;
  audit.at = now;
  audit.actor = "node:" + node.node_id;
  audit.action = !active ? "node.pending" : is_new ? "node.enroll" : "node.reenroll";
  audit.target = node.node_id;
  audit.reason = node.status_reason;
  audit.detail =
      "hostname " + node.hostname + ", EK sha256:" + HexEncode(node.ek_sha256) +
      (node.subnet ? ", " + SubnetPrefix(mesh, *node.subnet) : "") +
      (!is_new && previous_hostname != node.hostname ? ", renamed from " + previous_hostname : "");
  return audit;
}

}  // namespace

Result<proto::EnrollFinishResponse> AuthorityService::AdmitAndRecord(
    const proto::EnrollFinishRequest& req, const ChallengeRecord& taken,
    const attest::AttestedNode& attested, const std::optional<attest::PcrPolicy>& policy,
    IssuedNodeCert cert) {
  // 3. Admission, allocation, generation bump and audit: one transaction.
  NodeRecord node;
  int64_t generation = 0;
  int64_t published = 0;
  TPMESH_RETURN_IF_ERROR(InTx(store_, [&](Tx& tx) -> Status {
    const int64_t now = Now();
    TPMESH_ASSIGN_OR_RETURN(auto existing, tx.FindNodeByEk(attested.ek_spki_sha256));
    TPMESH_ASSIGN_OR_RETURN(auto facts, ReadAdmissionFacts(tx, settings_.admission, req, taken,
                                                           attested, existing, now));
    TPMESH_ASSIGN_OR_RETURN(internal::AdmissionDecision admission, internal::Decide(facts));
    const bool active = !admission.admitted_by.empty();
    node = existing.value_or(NodeRecord{});
    const bool is_new = !existing;
    const std::string previous_hostname = node.hostname;
    FillEnrolledNode(node, is_new, admission.admitted_by, req, taken, attested, policy, cert, now);
    if (active && !node.subnet) {
      TPMESH_ASSIGN_OR_RETURN(uint32_t subnet, tx.FreeSubnet(kMaxSubnet));
      node.subnet = subnet;
    }
    TPMESH_RETURN_IF_ERROR(is_new ? tx.InsertNode(node) : tx.UpdateNode(node));
    if (auto& token = admission.token) {
      token->used_at = now;
      token->used_by = node.node_id;
      TPMESH_RETURN_IF_ERROR(tx.UpdateToken(*token));
    }
    if (active) {
      TPMESH_ASSIGN_OR_RETURN(generation, tx.BumpGeneration());
    } else {
      TPMESH_ASSIGN_OR_RETURN(generation, tx.Generation());
    }
    TPMESH_RETURN_IF_ERROR(tx.AppendAudit(
        EnrollAudit(node, active, is_new, previous_hostname, settings_.mesh_prefix, now)));
    if (active) published = generation;
    return OkStatus();
  }));
  Status pub = PublishThrough(published);
  if (node.next_wg_public_key.empty()) ForgetRotation(node.node_id);
  if (!pub.ok()) return pub.take_error();

  proto::EnrollFinishResponse out;
  out.node_id = node.node_id;
  if (node.status != NodeStatus::kActive) {
    out.status = "pending_approval";
    return out;
  }
  out.status = "active";
  out.overlay_address = NodeAddress(settings_.mesh_prefix, *node.subnet);
  out.overlay_prefix = SubnetPrefix(settings_.mesh_prefix, *node.subnet);
  out.mesh_prefix = settings_.mesh_prefix.ToString();
  out.node_cert_pem = std::move(cert.pem);
  out.ca_bundle_pem = CaBundle();
  out.config_signing_key = ConfigSigningPublic();
  out.generation = generation;
  out.mtu = settings_.mtu;
  TPMESH_RETURN_IF_ERROR(EnsureView());
  out.peer_count = view_->member_count() > 0 ? static_cast<int64_t>(view_->member_count()) - 1 : 0;
  return out;
}

Status AuthorityService::EnsureView() {
  if (view_->loaded()) return OkStatus();
  // Inside a transaction: commits are serialized with the read, so none can
  // land between the read and the feed.
  return store_.Transact([&](Tx& tx) -> Status {
    if (view_->loaded()) return OkStatus();
    TPMESH_ASSIGN_OR_RETURN(auto nodes, tx.ListNodes());
    TPMESH_ASSIGN_OR_RETURN(int64_t generation, tx.Generation());
    view_->Load(nodes, generation);
    return OkStatus();
  });
}

Status AuthorityService::PublishThrough(int64_t generation) {
  if (publisher_ == nullptr || generation <= 0) return OkStatus();
  auto failed = [&](int64_t g, const Error& e) {
    Log("publishing the mesh config of generation " + std::to_string(g) +
        " failed: " + e.ToString());
    return MakeError(Code::kInternal, kPublishFailed,
                     "the change is committed (generation " + std::to_string(g) +
                         ") but its mesh config could not be published (" + e.message +
                         "); the next change or a restart publishes it");
  };
  // The next change or PublishCurrent retries the load.
  if (Status st = EnsureView(); !st.ok()) return failed(generation, st.error());
  std::unique_lock<std::mutex> lock(pub_mu_);
  while (published_generation_ < generation) {
    if (publishing_) {  // a leader is signing; it or the next one covers us
      pub_cv_.wait(lock);
      continue;
    }
    publishing_ = true;
    lock.unlock();
    meshcfg::MeshState state = view_->Snapshot();  // everything committed so far
    const int64_t g = state.generation;
    Status st = publisher_->Publish(std::move(state));
    lock.lock();
    publishing_ = false;
    if (st.ok()) published_generation_ = std::max(published_generation_, g);
    pub_cv_.notify_all();
    if (!st.ok()) return failed(g, st.error());
    if (g < generation) break;  // cannot happen: our commit precedes the snapshot
  }
  return OkStatus();
}

Status AuthorityService::PublishCurrent() {
  TPMESH_RETURN_IF_ERROR(RecoverRotations());
  TPMESH_RETURN_IF_ERROR(EnsureView());
  return PublishThrough(std::max<int64_t>(view_->generation(), 1));
}

Result<RotationDirective> AuthorityService::RecordReport(std::string_view node_id,
                                                         NodeReport report) {
  report.at = Now();
  const int64_t applied = report.applied_generation;
  TPMESH_RETURN_IF_ERROR(EnsureView());
  if (const int64_t current = view_->generation(); applied < 0 || applied > current) {
    return MakeError(Code::kInvalidArgument, "invalid_request",
                     "generation: " + std::to_string(applied) + " is outside [0, " +
                         std::to_string(current) + "], the generations this authority published");
  }
  if (report.endpoints) {
    // Best effort: the ack's answer (rotation, CA bundle) must not depend on it.
    if (Status st = ReportEndpoints(node_id, *report.endpoints); !st.ok()) {
      Log("node " + std::string(node_id) +
          ": reported endpoints not published: " + st.error().ToString());
    }
  }
  RotationDirective d;
  if (!report.ca_bundle_sha256.empty() && report.ca_bundle_sha256 != keys_.cas.BundleSha256()) {
    d.ca_bundle = keys_.cas.Bundle();
  }
  {
    std::lock_guard<std::mutex> lock(reports_mu_);
    reports_[std::string(node_id)] = std::move(report);
  }
  OnAck(node_id, applied);
  std::lock_guard<std::mutex> lock(rot_mu_);
  if (auto it = rotations_.find(std::string(node_id)); it != rotations_.end()) {
    if (it->second.rotation.phase() == keyrotate::Phase::kCommitting &&
        (switch_holder_.empty() || switch_holder_ == node_id) &&
        applied >= last_commit_generation_) {
      switch_holder_ = std::string(node_id);
      switch_granted_at_ = Now();
      d.action = RotationDirective::Action::kSwitch;
      d.next_public_key = it->second.rotation.next_public_key();
    }
  } else if (rotation_requested_.count(std::string(node_id))) {
    d.action = RotationDirective::Action::kPrepare;
  }
  return d;
}

std::map<std::string, NodeReport> AuthorityService::Reports() const {
  std::lock_guard<std::mutex> lock(reports_mu_);
  return reports_;
}

Status AuthorityService::AuthorizeNode(std::string_view node_id, std::string_view serial) {
  TPMESH_RETURN_IF_ERROR(EnsureView());
  return view_->Authorize(node_id, serial, Now());
}

}  // namespace tpmesh::authority
