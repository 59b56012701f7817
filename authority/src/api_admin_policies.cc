// /v1/admin/policies: PCR policies (define, adopt from a node, list, remove).
#include "api_internal.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_requests.h"

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
  auto body = call.Body(proto::ParsePolicyPutRequest);
  if (!body) return call.Bad();
  if (body->from_node) {
    return PolicyAnswer(call.service().AdoptPolicy(body->name, *body->from_node, call.actor()));
  }
  attest::PcrPolicy pol{body->name, attest::HashAlg::kSha256, std::move(*body->pcrs)};
  return PolicyAnswer(call.service().PutPolicy(std::move(pol), call.actor()));
}

}  // namespace

HttpResponse AdminPolicies(AdminCall& call) {
  const std::string& m = call.req().method;
  if (call.req().path == "/v1/admin/policies" && m == "GET") {
    if (!call.NoBody()) return call.Bad();
    auto list = call.service().ListPolicies();
    if (!list.ok()) return net::ErrorResponse(list.error());
    proto::PolicyListResponse out;
    for (const auto& p : *list) out.policies.push_back(ViewOf(p));
    return JsonText(200, proto::ToJson(out));
  }
  if (call.req().path == "/v1/admin/policies" && m == "POST") return PutPolicy(call);
  auto param = call.Param("/v1/admin/policies/");
  if (!param || m != "DELETE") return call.NotFound();
  if (auto st = proto::ValidatePolicyName(*param, "policy name"); !st.ok())
    return net::ErrorResponse(st.error());
  if (!call.NoBody()) return call.Bad();
  if (auto st = call.service().DeletePolicy(*param, call.actor()); !st.ok()) {
    return net::ErrorResponse(st.error());
  }
  return JsonText(200, proto::ToJson(proto::RemovedResponse{*param}));
}

}  // namespace tpmesh::authority::internal
