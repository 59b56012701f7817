// tpmeshctl ek allow | list | remove
#include <ostream>

#include "ctl/common.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::ctl {
namespace {

struct EkArgs {
  std::string sha256;
  std::string comment;
};

Result<Request> BuildAllow(const EkArgs& a) {
  TPMESH_ASSIGN_OR_RETURN(std::string hex, NormalizeSha256(a.sha256));
  TPMESH_ASSIGN_OR_RETURN(std::string comment, CheckText(a.comment, "comment"));
  TPMESH_ASSIGN_OR_RETURN(Bytes hash, proto::ParseSha256Hex(hex, "ek_sha256"));
  return PostRequest("/v1/admin/ek-allowlist",
                     proto::EkAllowRequest{std::move(hash), std::move(comment)});
}

Result<Request> BuildRemove(const EkArgs& a) {
  TPMESH_ASSIGN_OR_RETURN(std::string hex, NormalizeSha256(a.sha256));
  return Request{"DELETE", "/v1/admin/ek-allowlist/" + hex, {}};
}

void RenderList(const proto::EkAllowlistResponse& r, View& v) {
  Table t({"EK SHA256", "ADDED", "COMMENT"});
  for (const auto& e : r.ek_allowlist)
    t.AddRow({e.ek_sha256, FormatAge(e.created_at, v.now), e.comment});
  if (t.rows() == 0) {
    v.out << "the EK allowlist is empty\n";
    return;
  }
  v.out << t.Render();
}

}  // namespace

void AddEkCommands(CLI::App& root, Registry& reg) {
  auto* group = root.add_subcommand("ek", "the allowlist of TPM endorsement key fingerprints");
  group->require_subcommand(1);
  auto a = std::make_shared<EkArgs>();
  const char* kHexHelp = "SHA-256 of the EK public key (64 hex digits, ':' allowed)";

  auto* allow = group->add_subcommand("allow", "allow a TPM (by EK fingerprint) to enroll");
  allow->add_option("sha256", a->sha256, kHexHelp)->required();
  allow->add_option("--comment", a->comment, "free text, e.g. the asset tag");
  reg.Add(allow, {[a] { return BuildAllow(*a); },
                  Typed<proto::EkAllowResponse>(
                      proto::ParseEkAllowResponse, [](const proto::EkAllowResponse& r, View& v) {
                        v.out << "EK sha256:" << Sanitize(r.ek_sha256) << " allowed\n";
                      })});

  auto* list = group->add_subcommand("list", "list allowed EK fingerprints")->alias("ls");
  reg.Add(list, {[] {
                   return Result<Request>(Request{"GET", "/v1/admin/ek-allowlist", {}});
                 },
                 Typed<proto::EkAllowlistResponse>(proto::ParseEkAllowlistResponse, RenderList)});

  auto* remove = group->add_subcommand("remove", "remove a fingerprint from the allowlist");
  remove->alias("rm")->alias("delete");
  remove->add_option("sha256", a->sha256, kHexHelp)->required();
  reg.Add(remove, {[a] { return BuildRemove(*a); },
                   Typed<proto::RemovedResponse>(proto::ParseRemovedResponse,
                                                 [](const proto::RemovedResponse& r, View& v) {
                                                   v.out << "EK sha256:" << Sanitize(r.removed)
                                                         << " removed from the allowlist\n";
                                                 })});
}

}  // namespace tpmesh::ctl
