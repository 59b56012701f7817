// tpmeshctl audit list
#include <ostream>

#include "ctl/common.h"
#include "tpmesh/proto/admin.h"

namespace tpmesh::ctl {
namespace {

constexpr int kMaxLimit = 10000;  // the authority caps at this (service.cc)

void RenderList(const proto::AuditListResponse& r, View& v) {
  Table t({"ID", "TIME", "ACTOR", "ACTION", "TARGET", "REASON", "DETAIL"});
  for (const auto& e : r.audit) {
    t.AddRow(
        {std::to_string(e.id), FormatTime(e.at), e.actor, e.action, e.target, e.reason, e.detail});
  }
  if (t.rows() == 0) {
    v.out << "the audit log is empty\n";
    return;
  }
  v.out << t.Render();
}

}  // namespace

void AddAuditCommands(CLI::App& root, Registry& reg) {
  auto* group = root.add_subcommand("audit", "the authority's audit log");
  group->require_subcommand(1);
  auto limit = std::make_shared<int>(100);

  auto* list = group->add_subcommand("list", "audit entries, newest first")->alias("ls");
  list->add_option("--limit", *limit, "at most this many entries (1-10000)")
      ->check(CLI::Range(1, kMaxLimit))
      ->capture_default_str();
  reg.Add(list, {[limit] {
                   return Result<Request>(
                       Request{"GET", "/v1/admin/audit?limit=" + std::to_string(*limit), {}});
                 },
                 Typed<proto::AuditListResponse>(proto::ParseAuditListResponse, RenderList)});
}

}  // namespace tpmesh::ctl
