// The authority's HTTP handler in process: admin routes, revocation and
// authorization, identity (issue 11) and strict admin input (the fixture:
// authority_api_test.h).
#include <set>

#include "tests/unit/authority_api_test.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::authority::apitest {
namespace {

// --- revocation and authorization --------------------------------------------------

TEST_F(AuthorityApiTest, RevokedNodeIsRefusedEverywhere) {
  Node n("api-revoked", "revokee");
  auto r = Enroll(n, NewToken());
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string id = Parse(r).value("node_id", "");
  const net::Caller node = testing::NodeCaller(id, Parse(r).value("node_cert", ""));
  ASSERT_EQ(Call("GET", "/v1/node/self", "", node).status, 200);

  // Start of a re-enrollment before the revocation, finish after it.
  proto::EnrollStartResponse ch;
  ASSERT_EQ(Start(n, &ch).status, 200);
  auto pending_finish = Answer(n, ch);

  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/nodes/" + id + "/revoke", "{}", kAdmin)),
            "400 reason_required");
  const Snapshot before_revoke = Nodes();
  auto rev = Call("POST", "/v1/admin/nodes/" + id + "/revoke", R"({"reason": "stolen"})", kAdmin);
  ASSERT_EQ(rev.status, 200) << rev.body;
  const Snapshot revoked = Nodes();
  EXPECT_EQ(revoked.generation, before_revoke.generation + 1);
  EXPECT_EQ(revoked.statuses, std::vector<std::string>{"revokee:revoked"});

  // The still-valid certificate is refused on the next request.
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", node)), "403 node_revoked");
  EXPECT_EQ(StatusReason(Start(n)), "403 node_revoked");
  EXPECT_EQ(StatusReason(Enroll(n, NewToken())), "403 node_revoked");
  EXPECT_EQ(StatusReason(Finish(pending_finish)), "403 node_revoked");
  ExpectUnchanged(revoked, "revoked node enrolling");

  // Unknown node ids and anonymous callers on node routes.
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", {net::Caller::Kind::kNode, "00", ""})),
            "401 node_unknown");
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self")), "401 node_cert_required");
}

TEST_F(AuthorityApiTest, AdminRoutesNeedAdminCaller) {
  const net::Caller node{net::Caller::Kind::kNode, "0123456789abcdef0123", ""};
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/admin/nodes"},
                                                        {"POST", "/v1/admin/tokens"},
                                                        {"GET", "/v1/admin/tokens"},
                                                        {"POST", "/v1/admin/ek-allowlist"},
                                                        {"POST", "/v1/admin/nodes/x/revoke"},
                                                        {"GET", "/v1/admin/audit"}}) {
    EXPECT_EQ(StatusReason(Call(method, path, "{}", kAnon)), "401 admin_cert_required") << path;
    EXPECT_EQ(StatusReason(Call(method, path, "{}", node)), "401 admin_cert_required") << path;
  }
  auto tokens = Call("GET", "/v1/admin/tokens", "", kAdmin);
  ASSERT_EQ(tokens.status, 200);
  EXPECT_TRUE(Parse(tokens)["tokens"].empty()) << "anonymous POSTs must not have created tokens";
  EXPECT_EQ(StatusReason(Call("GET", "/v1/nothing-here")), "404 no_such_endpoint");
  EXPECT_EQ(StatusReason(Call("GET", "/v1/\xff\xfe")), "404 no_such_endpoint");
}

// --- identity is absolute (issue 11) ---------------------------------------------------

// Hole 1: a node request is accepted only with the certificate the authority
// holds valid: re-enrollment, revocation and restore end every earlier one.
TEST_F(AuthorityApiTest, OldCertificatesEndAtReenrollmentRevocationAndRestore) {
  Node n("ident-cert", "ident-cert");
  auto r1 = Enroll(n, NewToken());
  ASSERT_EQ(r1.status, 200) << r1.body;
  const std::string id = Parse(r1).value("node_id", "");
  const net::Caller first = testing::NodeCaller(id, Parse(r1).value("node_cert", ""));
  ASSERT_FALSE(first.serial.empty());
  ASSERT_EQ(Call("GET", "/v1/node/self", "", first).status, 200);

  auto r2 = Enroll(n);  // re-enrollment of an active node: no token needed
  ASSERT_EQ(r2.status, 200) << r2.body;
  const net::Caller second = testing::NodeCaller(id, Parse(r2).value("node_cert", ""));
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", first)), "401 node_cert_superseded");
  EXPECT_EQ(Call("GET", "/v1/node/self", "", second).status, 200);

  ASSERT_EQ(
      Call("POST", "/v1/admin/nodes/" + id + "/revoke", R"({"reason": "stolen"})", kAdmin).status,
      200);
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + id + "/restore", "{}", kAdmin).status, 200);
  ++n.wg_key_number;  // its old WireGuard key died with the revocation
  auto r3 = Enroll(n, NewToken());
  ASSERT_EQ(r3.status, 200) << r3.body;
  const net::Caller third = testing::NodeCaller(id, Parse(r3).value("node_cert", ""));
  const std::string ack = json{{"generation", 0}}.dump();
  for (const net::Caller& old : {first, second}) {
    EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", old)), "401 node_cert_superseded");
    EXPECT_EQ(StatusReason(Call("POST", "/v1/node/ack", ack, old)), "401 node_cert_superseded");
    EXPECT_EQ(StatusReason(Call("POST", "/v1/node/renew/start", "{}", old)),
              "401 node_cert_superseded");
  }
  EXPECT_EQ(Call("GET", "/v1/node/self", "", third).status, 200);
  // A caller without a serial never passes.
  EXPECT_EQ(StatusReason(Call("GET", "/v1/node/self", "", {net::Caller::Kind::kNode, id, ""})),
            "401 node_cert_superseded");
}

// Hole 2: a WireGuard public key belongs to at most one node, ever.
TEST_F(AuthorityApiTest, AWireGuardKeyBelongsToOneNodeEver) {
  Node a("ident-wg-a", "wg-a"), b("ident-wg-b", "wg-b"), c("ident-wg-c", "wg-c");
  ASSERT_EQ(Enroll(a, NewToken()).status, 200);
  ASSERT_EQ(Enroll(b, NewToken()).status, 200);
  const Bytes a_key = WgKeyFor("wg-a#0");
  const Snapshot before = Nodes();

  c.wg_key = a_key;  // a new node with a's key
  auto rc = Enroll(c, NewToken());
  EXPECT_EQ(StatusReason(rc), "409 key_in_use");
  EXPECT_NE(Parse(rc)["error"].value("message", "").find("wg_public_key"), std::string::npos)
      << rc.body;
  b.wg_key = a_key;  // an active node re-enrolling with a's key, no token
  EXPECT_EQ(StatusReason(Enroll(b)), "409 key_in_use");
  ExpectUnchanged(before, "enrollments with another node's WireGuard key");
  auto listed = Parse(Call("GET", "/v1/admin/nodes/wg-b", "", kAdmin));
  EXPECT_EQ(listed.value("wg_public_key", ""), Base64Encode(WgKeyFor("wg-b#0")));

  // Revoked: a's key is never accepted again, not from a itself either.
  const std::string a_id =
      Parse(Call("GET", "/v1/admin/nodes/wg-a", "", kAdmin)).value("node_id", "");
  ASSERT_EQ(
      Call("POST", "/v1/admin/nodes/" + a_id + "/revoke", R"({"reason": "x"})", kAdmin).status,
      200);
  EXPECT_EQ(StatusReason(Enroll(c, NewToken())), "409 key_in_use");
  ASSERT_EQ(Call("POST", "/v1/admin/nodes/" + a_id + "/restore", "{}", kAdmin).status, 200);
  EXPECT_EQ(StatusReason(Enroll(a, NewToken())), "409 key_in_use");
  ++a.wg_key_number;
  EXPECT_EQ(Enroll(a, NewToken()).status, 200);
  // A re-enrollment with a new key retires the one it replaces.
  b.wg_key.reset();
  ++b.wg_key_number;
  ASSERT_EQ(Enroll(b).status, 200);
  b.wg_key = WgKeyFor("wg-b#0");
  EXPECT_EQ(StatusReason(Enroll(b)), "409 key_in_use");
}

// Hole 3: every enrollment, first or repeated, passes the EK certificate
// checks or the allowlist; an earlier admission vouches for nothing.
TEST_F(AuthorityApiTest, AKnownEkReenrollingWithoutItsCertificateIsRefused) {
  Node n("ident-ek", "ident-ek");
  ASSERT_EQ(Enroll(n, NewToken()).status, 200);  // with its EK certificate
  const Snapshot before = Nodes();
  proto::EnrollStartRequest req = StartRequest(n);
  req.ek_cert.reset();
  req.ek_intermediates.clear();
  EXPECT_EQ(StatusReason(Call("POST", "/v1/enroll/start", proto::ToJson(req))),
            "403 ek_cert_untrusted");
  // Allowlisted at start, removed before finish: refused at finish.
  Allow(n);
  auto started = Call("POST", "/v1/enroll/start", proto::ToJson(req));
  ASSERT_EQ(started.status, 200) << started.body;
  auto ch = proto::ParseEnrollStartResponse(started.body);
  ASSERT_TRUE(ch.ok());
  auto h = n.tpm.EkSha256(n.ek_alg);
  ASSERT_TRUE(h.ok());
  ASSERT_EQ(Call("DELETE", "/v1/admin/ek-allowlist/" + HexEncode(*h), "", kAdmin).status, 200);
  EXPECT_EQ(StatusReason(Finish(Answer(n, *ch))), "403 ek_cert_untrusted");
  ExpectUnchanged(before, "cert-less re-enrollment of a known EK");
}

// A trust anchor removed from the store takes effect for known nodes at
// their next enrollment.
TEST_F(AuthorityApiTest, ARemovedVendorRootRefusesKnownNodesAtReenrollment) {
  Node n("ident-root", "ident-root");
  ASSERT_EQ(Enroll(n, NewToken()).status, 200);
  trust_ = attest::TrustStore();  // the vendor root is gone
  Build();
  EXPECT_EQ(StatusReason(Enroll(n)), "403 ek_cert_untrusted");
}

// --- admin input validation --------------------------------------------------------

TEST_F(AuthorityApiTest, AdminBodiesWithWrongTypesAreRejected) {
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": "1h"})", kAdmin)),
            "400 invalid_request");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": 1e300})", kAdmin)),
            "400 invalid_request");
  EXPECT_EQ(StatusReason(Call("POST", "/v1/admin/tokens", R"({"ttl_seconds": 0})", kAdmin)),
            "400 invalid_ttl");
  const std::string hex(64, 'a');
  auto policy = [&](const json& pcrs) {
    return StatusReason(
        Call("POST", "/v1/admin/policies", json{{"name", "p"}, {"pcrs", pcrs}}.dump(), kAdmin));
  };
  EXPECT_EQ(policy(json{{"7x", hex}}), "400 invalid_request");
  EXPECT_EQ(policy(json{{"7", json::array()}, {"8", hex}}), "400 invalid_request");
  EXPECT_EQ(policy(json{{"7", json::array({hex, 5})}}), "400 invalid_request");
  EXPECT_EQ(policy(json{{"7", 5}}), "400 invalid_request");
  EXPECT_EQ(policy(json{{"7", json::array({hex})}, {"8", hex}}).substr(0, 3), "200");
  auto listed = Parse(Call("GET", "/v1/admin/policies", "", kAdmin))["policies"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["pcrs"].size(), 2u);
}

// --- issue 11: strict admin input ------------------------------------------------

std::string ErrorMessage(const net::HttpResponse& r) {
  json j = Parse(r);
  return j.contains("error") && j["error"].is_object() ? j["error"].value("message", "") : "";
}

class AdminInputTest : public AuthorityApiTest {
 protected:
  // Everything an admin call can write: audit log, tokens, allowlist,
  // policies, nodes (statuses and reasons).
  std::string Written() {
    std::string out;
    for (const char* path : {"/v1/admin/audit", "/v1/admin/tokens", "/v1/admin/ek-allowlist",
                             "/v1/admin/policies", "/v1/admin/nodes"}) {
      auto r = Call("GET", path, "", kAdmin);
      EXPECT_EQ(r.status, 200) << path << ": " << r.body;
      out += r.body + "\n";
    }
    return out;
  }

  // `body` (or the path) is refused with 400 invalid_request naming `field`,
  // and nothing is written.
  void ExpectRefused(const std::string& method, const std::string& path, const std::string& body,
                     const std::string& field) {
    const std::string before = Written();
    auto r = Call(method, path, body, kAdmin);
    EXPECT_EQ(StatusReason(r), "400 invalid_request") << method << " " << path << " " << body;
    EXPECT_EQ(ErrorMessage(r).rfind(field + ":", 0), 0u)
        << method << " " << path << " " << body << ": " << ErrorMessage(r);
    EXPECT_EQ(Written(), before) << method << " " << path << " " << body;
  }

  // An enrolled node's id.
  std::string EnrolledNode(const std::string& seed, const std::string& hostname) {
    Node n(seed, hostname);
    auto r = Enroll(n, NewToken());
    EXPECT_EQ(r.status, 200) << r.body;
    return Parse(r).value("node_id", "");
  }
};

TEST_F(AdminInputTest, EkAllowlistWithAnEmptyBodyNamesTheMissingField) {
  // HexDecode("") handed libsodium a null pointer here (ASan+UBSan abort).
  ExpectRefused("POST", "/v1/admin/ek-allowlist", "{}", "ek_sha256");
  ExpectRefused("POST", "/v1/admin/ek-allowlist", "", "ek_sha256");
  ExpectRefused("POST", "/v1/admin/ek-allowlist", R"({"ek_sha256": ""})", "ek_sha256");
  ExpectRefused("POST", "/v1/admin/ek-allowlist", json{{"ek_sha256", std::string(62, 'a')}}.dump(),
                "ek_sha256");
}

TEST_F(AdminInputTest, WrongTypesAreRefusedNamingTheField) {
  const std::string id = EnrolledNode("admin-input-types", "typed");
  const std::string hex(64, 'a');
  const std::string node = "/v1/admin/nodes/" + id;
  const std::vector<std::tuple<std::string, std::string, json, std::string>> cases = {
      {"POST", "/v1/admin/tokens", {{"comment", 5}}, "comment"},
      {"POST", "/v1/admin/tokens", {{"ttl_seconds", "1h"}}, "ttl_seconds"},
      {"POST", "/v1/admin/tokens", {{"ttl_seconds", 18446744073709551615ull}}, "ttl_seconds"},
      {"POST", "/v1/admin/ek-allowlist", {{"ek_sha256", 5}}, "ek_sha256"},
      {"POST", "/v1/admin/ek-allowlist", {{"ek_sha256", hex}, {"comment", {"x"}}}, "comment"},
      {"POST", node + "/revoke", {{"reason", 5}}, "reason"},
      {"POST", node + "/approve", {{"reason", json::object()}}, "reason"},
      {"POST", node + "/restore", {{"reason", true}}, "reason"},
      {"POST", "/v1/admin/keys/rotate", {{"nodes", id}}, "nodes"},
      {"POST", "/v1/admin/keys/rotate", {{"nodes", {id, 7}}}, "nodes[1]"},
      {"POST", "/v1/admin/keys/rotate", {{"all", "yes"}}, "all"},
      {"POST", "/v1/admin/keys/rotate", {{"all", true}, {"reason", 1}}, "reason"},
      {"POST", "/v1/admin/keys/ca/rotate", {{"reason", 1}}, "reason"},
      {"POST", "/v1/admin/keys/signing/rotate", {{"reason", {1}}}, "reason"},
      {"POST", "/v1/admin/policies", {{"name", 5}, {"pcrs", {{"7", hex}}}}, "name"},
      {"POST", "/v1/admin/policies", {{"name", "p"}, {"from_node", 5}}, "from_node"},
      {"POST", "/v1/admin/policies", {{"pcrs", {{"7", hex}}}}, "name"},
      {"POST", "/v1/admin/policies", {{"name", "p"}}, "pcrs"},
      {"POST",
       "/v1/admin/policies",
       {{"name", "p"}, {"from_node", id}, {"pcrs", {{"7", hex}}}},
       "pcrs"},
      {"POST", "/v1/admin/policies", {{"name", "p"}, {"pcrs", {{"07", hex}}}}, "pcrs"},
      // A misspelt field is refused, not defaulted.
      {"POST", "/v1/admin/tokens", {{"ttl_second", 60}}, "'ttl_second'"},
      {"POST", node + "/revoke", {{"reason", "stolen"}, {"force", true}}, "'force'"},
      {"GET", "/v1/admin/nodes", {{"limit", 1}}, "'limit'"},
  };
  for (const auto& [method, path, body, field] : cases)
    ExpectRefused(method, path, body.dump(), field);
  ExpectRefused("POST", node + "/revoke", "[\"stolen\"]", "body");
}

TEST_F(AdminInputTest, PolicyNamesComeFromTheDocumentedCharacterSet) {
  const json pcrs = {{"7", std::string(64, 'b')}};
  for (const std::string& bad :
       {std::string(), std::string("Golden"), std::string("../etc"), std::string("a/../b"),
        std::string("$(reboot)"), std::string("a\0b", 3), std::string("\xe2\x80\xaegolden"),
        std::string("gol\x1b[2Jden"), std::string("-x"), std::string(".x"), std::string("_x"),
        std::string("a b"), std::string("na\xc3\xafve"), std::string(65, 'a')}) {
    ExpectRefused("POST", "/v1/admin/policies", json{{"name", bad}, {"pcrs", pcrs}}.dump(), "name");
  }
  // The path parameter of DELETE (already percent-decoded) follows the same rule.
  for (const std::string& bad :
       {std::string(".."), std::string("$(x)"), std::string("A"), std::string(65, 'a')}) {
    ExpectRefused("DELETE", "/v1/admin/policies/" + bad, "", "policy name");
  }
  for (const std::string& good :
       {std::string("golden"), std::string("fleet-2026-11"), std::string("golden_2024.1"),
        std::string("7"), std::string(64, 'a')}) {
    auto r =
        Call("POST", "/v1/admin/policies", json{{"name", good}, {"pcrs", pcrs}}.dump(), kAdmin);
    EXPECT_EQ(r.status, 200) << good << ": " << r.body;
  }
  EXPECT_EQ(Parse(Call("GET", "/v1/admin/policies", "", kAdmin))["policies"].size(), 5u);
  EXPECT_EQ(Call("DELETE", "/v1/admin/policies/fleet-2026-11", "", kAdmin).status, 200);
}

TEST_F(AdminInputTest, ReasonsAndCommentsAreBoundedSingleLineText) {
  const std::string id = EnrolledNode("admin-input-text", "texty");
  const std::string hex(64, 'c');
  const std::string revoke = "/v1/admin/nodes/" + id + "/revoke";
  ExpectRefused("POST", "/v1/admin/tokens", json{{"comment", std::string(60000, 'x')}}.dump(),
                "comment");
  ExpectRefused("POST", "/v1/admin/tokens", json{{"comment", std::string(1025, 'x')}}.dump(),
                "comment");
  ExpectRefused("POST", "/v1/admin/ek-allowlist",
                json{{"ek_sha256", hex}, {"comment", std::string(60000, 'x')}}.dump(), "comment");
  ExpectRefused("POST", revoke, json{{"reason", std::string(60000, 'x')}}.dump(), "reason");
  for (const std::string& bad :
       {std::string("two\nlines"), std::string("tab\there"), std::string("nul\0", 4),
        std::string("esc\x1b[31m"), std::string("del\x7f"), std::string("c1 \xc2\x85"),
        std::string("rlo \xe2\x80\xae"), std::string("zwsp \xe2\x80\x8b"),
        std::string("isolate \xe2\x81\xa6"), std::string("bom \xef\xbb\xbf")}) {
    ExpectRefused("POST", revoke, json{{"reason", bad}}.dump(), "reason");
    ExpectRefused("POST", "/v1/admin/ek-allowlist",
                  json{{"ek_sha256", hex}, {"comment", bad}}.dump(), "comment");
  }
  EXPECT_EQ(Nodes().statuses, std::vector<std::string>{"texty:active"});
  // Up to the bound, and any printable text, is fine.
  auto t =
      Call("POST", "/v1/admin/tokens", json{{"comment", std::string(1024, 'x')}}.dump(), kAdmin);
  EXPECT_EQ(t.status, 201) << t.body;
  const std::string reason = "disk stolen \xe2\x80\x94 caf\xc3\xa9 \xe2\x9c\x93";
  auto r = Call("POST", revoke, json{{"reason", reason}}.dump(), kAdmin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r).value("status_reason", ""), reason);
}

TEST_F(AdminInputTest, PathParametersAreChecked) {
  const std::string id = EnrolledNode("admin-input-path", "path-node");
  ExpectRefused("GET", "/v1/admin/nodes/bad_name", "", "node");
  ExpectRefused("POST", "/v1/admin/nodes/a..b/revoke", R"({"reason": "x"})", "node");
  ExpectRefused("DELETE", "/v1/admin/tokens/xyz", "", "token id");
  ExpectRefused("DELETE", "/v1/admin/tokens/0123456789abcdef00", "", "token id");
  ExpectRefused("DELETE", "/v1/admin/ek-allowlist/abcd", "", "ek_sha256");
  // Ids and hostnames are matched without regard to case.
  auto upper = Call("GET", "/v1/admin/nodes/PATH-NODE", "", kAdmin);
  ASSERT_EQ(upper.status, 200) << upper.body;
  EXPECT_EQ(Parse(upper).value("node_id", ""), id);
  std::string id_upper = id;
  for (char& c : id_upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Call("GET", "/v1/admin/nodes/" + id_upper, "", kAdmin).status, 200);
  EXPECT_EQ(
      StatusReason(Call("DELETE", "/v1/admin/ek-allowlist/" + std::string(64, 'A'), "", kAdmin)),
      "404 ek_not_found");
}

// Issue 11: `NODE-B` was admitted beside `node-b`.
TEST_F(AdminInputTest, HostnamesAreOneNameWhateverTheirCase) {
  Node mixed("admin-input-case-1", "Node-B.Example");
  auto r = Enroll(mixed, NewToken());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Nodes().statuses, std::vector<std::string>{"node-b.example:active"});
  const Snapshot before = Nodes();
  Node upper("admin-input-case-2", "NODE-B.EXAMPLE");
  Node lower("admin-input-case-3", "node-b.example");
  auto refused_upper = Enroll(upper, NewToken());
  auto refused_lower = Enroll(lower, NewToken());
  EXPECT_NE(refused_lower.status, 200) << refused_lower.body;
  EXPECT_EQ(StatusReason(refused_upper), StatusReason(refused_lower));
  ExpectUnchanged(before, "same hostname in another case");
}

}  // namespace
}  // namespace tpmesh::authority::apitest
