// tpmeshctl policy list | adopt | set | remove
#include <algorithm>
#include <cstdlib>
#include <map>
#include <ostream>

#include "ctl/common.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::ctl {
namespace {

struct PolicyArgs {
  std::string name;
  std::string from_node;
  std::vector<std::string> pcrs;
};

Result<std::string> CheckPolicyName(const std::string& name) {
  TPMESH_ASSIGN_OR_RETURN(std::string n, CheckPathName(name, "policy"));
  if (n.size() > proto::kMaxPolicyName) {
    return Invalid("invalid_policy", "policy name: longer than " +
                                         std::to_string(proto::kMaxPolicyName) + " characters");
  }
  return n;
}

Result<Request> BuildAdopt(const PolicyArgs& a) {
  TPMESH_ASSIGN_OR_RETURN(std::string name, CheckPolicyName(a.name));
  TPMESH_ASSIGN_OR_RETURN(std::string node, CheckPathName(a.from_node, "node"));
  return PostRequest("/v1/admin/policies",
                     proto::PolicyPutRequest{std::move(name), std::move(node), std::nullopt});
}

Result<Request> BuildSet(const PolicyArgs& a) {
  TPMESH_ASSIGN_OR_RETURN(std::string name, CheckPolicyName(a.name));
  if (a.pcrs.empty())
    return Invalid("invalid_pcr", "policy set needs at least one --pcr INDEX=HEX");
  std::map<uint32_t, std::vector<Bytes>> golden;  // several values for one PCR: any may match
  for (const auto& arg : a.pcrs) {
    TPMESH_ASSIGN_OR_RETURN(PcrArg p, ParsePcrArg(arg));
    TPMESH_ASSIGN_OR_RETURN(Bytes value, proto::ParseSha256Hex(p.hex, "--pcr"));
    auto& values = golden[p.index];
    if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
  }
  return PostRequest("/v1/admin/policies",
                     proto::PolicyPutRequest{std::move(name), std::nullopt, std::move(golden)});
}

Result<Request> BuildRemove(const PolicyArgs& a) {
  TPMESH_ASSIGN_OR_RETURN(std::string name, CheckPathName(a.name, "policy"));
  return Request{"DELETE", "/v1/admin/policies/" + EncodePathSegment(name), {}};
}

// "0,2,7[2]": PCR indices in order; [n] when n values are allowed.
std::string PcrSummary(const proto::PolicyView& p) {
  std::string out;
  for (const auto& [i, values] : p.pcrs) {  // ascending by index
    const size_t n = values.size();
    if (!out.empty()) out += ",";
    out += std::to_string(i);
    if (n > 1) out += "[" + std::to_string(n) + "]";
  }
  return out;
}

void RenderList(const proto::PolicyListResponse& r, View& v) {
  Table t({"NAME", "BANK", "PCRS", "CREATED"});
  for (const auto& p : r.policies)
    t.AddRow({p.name, p.bank, PcrSummary(p), FormatAge(p.created_at, v.now)});
  if (t.rows() == 0) {
    v.out << "no PCR policies\n";
    return;
  }
  v.out << t.Render()
        << "(PCRS: indices checked; [n] = n allowed values; -o json shows the values)\n";
}

void RenderSaved(const proto::PolicyView& p, View& v) {
  v.out << "policy " << Sanitize(p.name) << " saved: " << Sanitize(p.bank) << " PCRs "
        << PcrSummary(p) << "\n";
}

}  // namespace

void AddPolicyCommands(CLI::App& root, Registry& reg) {
  // The authority's rule (docs/protocol.md, "Admin input"); it checks, tpmeshctl does not.
  const char* kNameHelp =
      "policy name: 1-64 characters of a-z 0-9 . _ -, starting with a letter or digit";
  auto* group = root.add_subcommand("policy", "PCR policies (golden values nodes must quote)");
  group->require_subcommand(1);
  auto a = std::make_shared<PolicyArgs>();

  auto* list = group->add_subcommand("list", "list PCR policies")->alias("ls");
  reg.Add(list, {[] {
                   return Result<Request>(Request{"GET", "/v1/admin/policies", {}});
                 },
                 Typed<proto::PolicyListResponse>(proto::ParsePolicyListResponse, RenderList)});

  auto* adopt = group->add_subcommand(
      "adopt", "create or replace a policy from a node's last verified quote");
  adopt->add_option("name", a->name, kNameHelp)->required();
  adopt->add_option("--from-node", a->from_node, "node id or hostname whose PCR values to adopt")
      ->required();
  reg.Add(adopt, {[a] { return BuildAdopt(*a); },
                  Typed<proto::PolicyView>(proto::ParsePolicyView, RenderSaved)});

  auto* set =
      group->add_subcommand("set", "create or replace a policy from explicit SHA-256 values");
  set->add_option("name", a->name, kNameHelp)->required();
  set->add_option("--pcr", a->pcrs,
                  "INDEX=HEX (64 hex digits); repeat for more PCRs or "
                  "more allowed values of one PCR")
      ->allow_extra_args(false)  // one value per --pcr
      ->required();
  reg.Add(set, {[a] { return BuildSet(*a); },
                Typed<proto::PolicyView>(proto::ParsePolicyView, RenderSaved)});

  auto* remove = group->add_subcommand("remove", "delete a policy");
  remove->alias("rm")->alias("delete");
  remove->add_option("name", a->name, "policy name")->required();
  reg.Add(remove, {[a] { return BuildRemove(*a); },
                   Typed<proto::RemovedResponse>(
                       proto::ParseRemovedResponse, [](const proto::RemovedResponse& r, View& v) {
                         v.out << "policy " << Sanitize(r.removed) << " removed\n";
                       })});
}

}  // namespace tpmesh::ctl
