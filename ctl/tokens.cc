// tpmeshctl tokens create | list | revoke
#include <ostream>

#include "ctl/common.h"
#include "tpmesh/proto/admin.h"
#include "tpmesh/proto/admin_requests.h"

namespace tpmesh::ctl {
namespace {

constexpr int64_t kMaxTtlSeconds = 30 * 86400;  // the authority's limit (service.cc)

struct TokenArgs {
  std::string ttl = "1h";
  std::string comment;
  std::string id;
};

Result<Request> BuildCreate(const TokenArgs& a) {
  TPMESH_ASSIGN_OR_RETURN(int64_t ttl, ParseDuration(a.ttl));
  if (ttl > kMaxTtlSeconds) {
    return Invalid("invalid_ttl", "--ttl " + Sanitize(a.ttl) + ": tokens live at most 30d");
  }
  TPMESH_ASSIGN_OR_RETURN(std::string comment, CheckText(a.comment, "comment"));
  return PostRequest("/v1/admin/tokens", proto::TokenCreateRequest{ttl, std::move(comment)});
}

void RenderCreate(const proto::TokenView& r, View& v) {
  v.out << "Enrollment token (shown only this once; the authority keeps only its hash):\n\n"
        << "    " << Sanitize(r.token.value_or("")) << "\n\n"
        << RenderFields(
               {{"id", r.id},
                {"expires", FormatTime(r.expires_at) + " (" + FormatAge(r.expires_at, v.now) + ")"},
                {"comment", r.comment}})
        << "\nIt is single-use: pass it to 'tpmesh-client enroll --token TOKEN' on the new node.\n";
}

std::string TokenState(const proto::TokenView& t, int64_t now) {
  if (t.revoked) return "revoked";
  if (!t.used_by.empty() || t.used_at.value_or(0) > 0) {
    return "used by " + (t.used_by.empty() ? std::string("?") : t.used_by);
  }
  if (t.expires_at <= now) return "expired";
  return "unused";
}

void RenderList(const proto::TokenListResponse& r, View& v) {
  Table t({"ID", "STATE", "CREATED", "EXPIRES", "COMMENT"});
  for (const auto& tok : r.tokens) {
    t.AddRow({tok.id, TokenState(tok, v.now), FormatAge(tok.created_at, v.now),
              FormatAge(tok.expires_at, v.now), tok.comment});
  }
  if (t.rows() == 0) {
    v.out << "no enrollment tokens\n";
    return;
  }
  v.out << t.Render();
}

Result<Request> BuildRevoke(const TokenArgs& a) {
  std::string id = a.id;
  for (char& c : id) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  const bool hex = id.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (id.size() != 16 || !hex) {
    return Invalid("invalid_token_id", "token id '" + Sanitize(a.id.substr(0, 80)) +
                                           "': expected 16 hex digits (the ID column of "
                                           "'tpmeshctl tokens list', not the token itself)");
  }
  return Request{"DELETE", "/v1/admin/tokens/" + id, {}};
}

void RenderRevoke(const proto::TokenView& r, View& v) {
  v.out << "token " << Sanitize(r.id) << " revoked\n";
}

}  // namespace

void AddTokensCommands(CLI::App& root, Registry& reg) {
  auto* group = root.add_subcommand("tokens", "one-time enrollment tokens");
  group->require_subcommand(1);
  auto a = std::make_shared<TokenArgs>();

  auto* create = group->add_subcommand("create", "create a token (printed once)");
  create->add_option("--ttl", a->ttl, "lifetime: N with suffix s, m, h or d (at most 30d)")
      ->capture_default_str();
  create->add_option("--comment", a->comment, "free text shown in the list and the audit log");
  reg.Add(create, {[a] { return BuildCreate(*a); },
                   Typed<proto::TokenView>(proto::ParseTokenView, RenderCreate)});

  auto* list = group->add_subcommand("list", "list tokens (never the secret)")->alias("ls");
  reg.Add(list, {[] {
                   return Result<Request>(Request{"GET", "/v1/admin/tokens", {}});
                 },
                 Typed<proto::TokenListResponse>(proto::ParseTokenListResponse, RenderList)});

  auto* revoke = group->add_subcommand("revoke", "revoke an unused token");
  revoke->add_option("id", a->id, "token id (16 hex digits)")->required();
  reg.Add(revoke, {[a] { return BuildRevoke(*a); },
                   Typed<proto::TokenView>(proto::ParseTokenView, RenderRevoke)});
}

}  // namespace tpmesh::ctl
