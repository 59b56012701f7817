// /v1/admin/policies: PCR policies (define, adopt from a node, list, remove).
#include "api_internal.h"
#include "tpmesh/proto/admin.h"

namespace tpmesh::authority::internal {

using net::HttpResponse;

namespace {

proto::PolicyView ViewOf(const PolicyRecord& p) {
  proto::PolicyView v{p.policy.name, attest::HashAlgName(p.policy.bank), {}, p.created_at};
  for (const auto& [pcr, values] : p.policy.golden) {
    auto& hex = v.pcrs[pcr];
    for (const auto& value : values) hex.push_back(HexEncode(value));
  }
  return v;
}

HttpResponse PolicyAnswer(const Result<PolicyRecord>& p) {
  if (!p.ok()) return net::ErrorResponse(p.error());
  return JsonText(200, proto::ToJson(ViewOf(*p)));
}

HttpResponse PutPolicy(AdminCall& call) {
  auto name = call.body().PolicyName("name");
  auto from = call.body().NodeRef("from_node");
  auto pcrs = call.body().Pcrs("pcrs");
  call.body().Require("name", name);
  if (from && pcrs)
    call.body().Fail("pcrs", "give either from_node (adopt) or pcrs (define), not both");
  if (!from && !pcrs) {
    call.body().Fail("pcrs", "required field missing (or from_node, to adopt a node's values)");
  }
  if (!call.Done()) return call.Bad();
  if (from) return PolicyAnswer(call.service().AdoptPolicy(*name, *from, call.actor()));
  attest::PcrPolicy pol{*name, attest::HashAlg::kSha256, std::move(*pcrs)};
  return PolicyAnswer(call.service().PutPolicy(std::move(pol), call.actor()));
}

}  // namespace

HttpResponse AdminPolicies(AdminCall& call) {
  const std::string& m = call.req().method;
  if (call.req().path == "/v1/admin/policies" && m == "GET") {
    if (!call.Done()) return call.Bad();
    auto list = call.service().ListPolicies();
    if (!list.ok()) return net::ErrorResponse(list.error());
    proto::PolicyListResponse out;
    for (const auto& p : *list) out.policies.push_back(ViewOf(p));
    return JsonText(200, proto::ToJson(out));
  }
  if (call.req().path == "/v1/admin/policies" && m == "POST") return PutPolicy(call);
  auto param = call.Param("/v1/admin/policies/");
  if (!param || m != "DELETE") return call.NotFound();
  if (auto st = ValidatePolicyName(*param, "policy name"); !st.ok())
    return net::ErrorResponse(st.error());
  if (!call.Done()) return call.Bad();
  if (auto st = call.service().DeletePolicy(*param, call.actor()); !st.ok()) {
    return net::ErrorResponse(st.error());
  }
  return JsonText(200, proto::ToJson(proto::RemovedResponse{*param}));
}

}  // namespace tpmesh::authority::internal
