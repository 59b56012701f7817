// Node routes (docs/protocol.md, "Config push", "Acknowledgement", "WireGuard
// key rotation", "Certificate renewal"): the caller is an active node whose
// certificate the route table has checked; bodies are proto/node.h's and
// proto/renew.h's types.
#include <algorithm>
#include <charconv>

#include "api_internal.h"
#include "tpmesh/proto/admin_requests.h"
#include "tpmesh/proto/node.h"
#include "tpmesh/proto/renew.h"

namespace tpmesh::authority::internal {
namespace {

using net::Caller;
using net::HttpRequest;
using net::HttpResponse;

Error BadQuery(const std::string& what) {
  return MakeError(Code::kInvalidArgument, "invalid_request", what);
}

// A query parameter: an integer in [-1, max]; `fallback` when absent.
Result<int64_t> QueryInt(const HttpRequest& req, const char* key, int64_t fallback, int64_t max) {
  auto it = req.query.find(key);
  if (it == req.query.end()) return fallback;
  int64_t v = -1;
  const std::string& s = it->second;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v < -1 || v > max) {
    return BadQuery(std::string(key) + ": must be an integer in [-1, " + std::to_string(max) + "]");
  }
  return v;
}

NodeReport ReportOf(proto::AckRequest&& ack) {
  NodeReport report;
  report.applied_generation = ack.generation;
  report.ca_bundle_sha256 = ack.ca_bundle_sha256.value_or("");
  report.endpoints = std::move(ack.endpoints);
  for (auto& p : ack.peers) {
    report.peers.push_back(
        PeerReport{std::move(p.public_key), p.last_handshake, p.rx_bytes, p.tx_bytes});
  }
  return report;
}

proto::AckResponse AnswerOf(const RotationDirective& d) {
  proto::AckResponse out;
  if (d.action == RotationDirective::Action::kPrepare) {
    out.rotation = proto::AckResponse::Rotation::kPrepare;
  } else if (d.action == RotationDirective::Action::kSwitch) {
    out.rotation = proto::AckResponse::Rotation::kSwitch;
    out.next_public_key = d.next_public_key;
  }
  if (!d.ca_bundle.empty()) out.ca_bundle = d.ca_bundle;
  return out;
}

// The answer to a config poll once `body` is there (nullptr: nothing newer,
// 204). Revocation may have happened while the poll waited: authorized again.
HttpResponse ConfigAnswer(AuthorityService& service, const Caller& caller,
                          std::shared_ptr<const std::string> body) {
  if (auto st = service.AuthorizeNode(caller.id, caller.serial); !st.ok()) {
    return net::ErrorResponse(st.error());
  }
  if (!body) return HttpResponse{204, ""};
  HttpResponse r{200, ""};
  r.shared_body = std::move(body);
  return r;
}

// A parked config poll: a watcher on the publisher until a newer generation
// is published (net::LongPoll; the server holds the connection meanwhile).
class ConfigPoll final : public net::LongPoll {
 public:
  ConfigPoll(ApiContext& ctx, Caller caller, int64_t since)
      : ctx_(ctx), caller_(std::move(caller)), since_(since) {}

  void Arm(std::function<void(HttpResponse)> answer) override {
    AuthorityService& service = ctx_.service;
    ticket_ =
        ctx_.publisher->Watch(since_, [&service, caller = caller_, answer = std::move(answer)](
                                          std::shared_ptr<const std::string> body) {
          answer(ConfigAnswer(service, caller, std::move(body)));
        });
  }
  void Disarm() override { ctx_.publisher->Unwatch(ticket_); }

 private:
  ApiContext& ctx_;
  Caller caller_;
  int64_t since_;
  uint64_t ticket_ = 0;
};

}  // namespace

// Long poll: answers at once when a generation newer than `since` exists,
// else parks (no thread) for up to `wait` seconds and answers 204.
HttpResponse NodeConfig(const HttpRequest& req, const Caller& caller, ApiContext& ctx) {
  if (ctx.publisher == nullptr) {
    return net::ErrorResponse(
        MakeError(Code::kUnavailable, "config_unavailable", "config push is not enabled"));
  }
  auto since = QueryInt(req, "since", -1, INT64_MAX - 1);
  if (!since.ok()) return net::ErrorResponse(since.error());
  auto wait = QueryInt(req, "wait", 25, 55);
  if (!wait.ok()) return net::ErrorResponse(wait.error());
  // The route table authorized this request; only a parked poll, answered
  // later, is authorized again (ConfigAnswer).
  if (auto body = ctx.publisher->Newer(*since); body || *wait <= 0) {
    if (!body) return HttpResponse{204, ""};
    HttpResponse r{200, ""};
    r.shared_body = std::move(body);
    return r;
  }
  HttpResponse parked{204, ""};
  parked.poll = std::make_shared<ConfigPoll>(ctx, caller, *since);
  parked.poll_timeout = std::chrono::seconds(*wait);
  return parked;
}

HttpResponse NodeAck(const HttpRequest& req, const Caller& caller, ApiContext& ctx) {
  auto ack = proto::ParseAckRequest(req.body);
  if (!ack.ok()) return net::ErrorResponse(ack.error());
  auto directive = ctx.service.RecordReport(caller.id, ReportOf(std::move(*ack)));
  if (!directive.ok()) return net::ErrorResponse(directive.error());
  return JsonText(200, proto::ToJson(AnswerOf(*directive)));
}

HttpResponse NodeRotatePrepare(const HttpRequest& req, const Caller& caller, ApiContext& ctx) {
  auto r = proto::ParseRotatePrepareRequest(req.body);
  if (!r.ok()) return net::ErrorResponse(r.error());
  auto gen = ctx.service.RotatePrepare(caller.id, r->next_public_key);
  if (!gen.ok()) return net::ErrorResponse(gen.error());
  return JsonText(200, proto::ToJson(proto::RotatePrepareResponse{*gen}));
}

HttpResponse NodeRotateSwitched(const HttpRequest& req, const Caller& caller, ApiContext& ctx) {
  auto r = proto::ParseRotateSwitchedRequest(req.body);
  if (!r.ok()) return net::ErrorResponse(r.error());
  if (auto st = ctx.service.RotateSwitched(caller.id, r->public_key); !st.ok()) {
    return net::ErrorResponse(st.error());
  }
  return JsonText(200, proto::OkJson());
}

// The body is {} (or empty): the caller's certificate names the node.
HttpResponse NodeRenewStart(const HttpRequest& req, const Caller& caller, ApiContext& ctx) {
  if (auto empty = proto::ParseEmptyRequest(req.body); !empty.ok()) {
    return net::ErrorResponse(empty.error());
  }
  auto out = ctx.service.RenewStart(caller.id);
  if (!out.ok()) return net::ErrorResponse(out.error());
  return JsonText(200, proto::ToJson(*out));
}

HttpResponse NodeRenewFinish(const HttpRequest& req, const Caller& caller, ApiContext& ctx) {
  auto r = proto::ParseRenewFinishRequest(req.body);
  if (!r.ok()) return net::ErrorResponse(r.error());
  auto out = ctx.service.RenewFinish(caller.id, caller.serial, *r);
  if (!out.ok()) return net::ErrorResponse(out.error());
  return JsonText(200, proto::ToJson(*out));
}

HttpResponse NodeSelf(const HttpRequest&, const Caller& caller, ApiContext& ctx) {
  return NodeAnswer(ctx.service.GetNode(caller.id), ctx.service);
}

}  // namespace tpmesh::authority::internal
