// tpmeshctl: the pure pieces (parsing, formatting) and whole commands driven
// through Run() with a fake AdminApi (no network).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ctl/common.h"
#include "tpmesh/common/bytes.h"

namespace tpmesh::ctl {
namespace {

const std::string kHexA(64, 'a');
const std::string kHexB = std::string(63, 'b') + "C";

// ---- pure pieces ---------------------------------------------------------------

TEST(CtlDuration, AcceptsSuffixes) {
  EXPECT_EQ(*ParseDuration("90"), 90);
  EXPECT_EQ(*ParseDuration("90s"), 90);
  EXPECT_EQ(*ParseDuration("15m"), 900);
  EXPECT_EQ(*ParseDuration("1h"), 3600);
  EXPECT_EQ(*ParseDuration("7d"), 7 * 86400);
}

TEST(CtlDuration, RejectsMalformed) {
  for (const char* bad :
       {"", "h", "1x", "-5", "+5", "1.5h", "1hh", "h1", " 1h", "1 h", "1H", "9999999999999d"}) {
    auto r = ParseDuration(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "invalid_ttl") << bad;
    EXPECT_EQ(r.error().code, Code::kInvalidArgument);
  }
  auto zero = ParseDuration("0m");
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message.find("greater than zero"), std::string::npos);
  auto msg = ParseDuration("1x");
  EXPECT_NE(msg.error().message.find("'1x'"), std::string::npos);
}

TEST(CtlPcr, ParsesAndNormalizes) {
  auto p = ParsePcrArg("7=" + kHexB);
  ASSERT_TRUE(p.ok()) << p.error().ToString();
  EXPECT_EQ(p->index, 7u);
  EXPECT_EQ(p->hex, std::string(63, 'b') + "c");
  auto q = ParsePcrArg("23=0x" + kHexA);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->index, 23u);
  EXPECT_EQ(q->hex, kHexA);
}

TEST(CtlPcr, RejectsBadIndexAndValue) {
  struct Case {
    std::string arg, needle;
  };
  for (const Case& c :
       {Case{kHexA, "INDEX=HEX"}, Case{"24=" + kHexA, "0-23"}, Case{"x=" + kHexA, "0-23"},
        Case{"=" + kHexA, "0-23"}, Case{"-1=" + kHexA, "0-23"},
        Case{"7=" + kHexA.substr(0, 40), "40 hex digits"},
        Case{"7=" + std::string(64, 'g'), "not hex"}, Case{"7=", "0 hex digits"}}) {
    auto r = ParsePcrArg(c.arg);
    ASSERT_FALSE(r.ok()) << c.arg;
    EXPECT_EQ(r.error().reason, "invalid_pcr");
    EXPECT_NE(r.error().message.find(c.needle), std::string::npos) << r.error().message;
  }
}

TEST(CtlSha256, NormalizesSeparatorsCaseAndPrefix) {
  std::string colons;
  for (size_t i = 0; i < 64; i += 2) colons += (i ? ":" : "") + std::string("AB");
  EXPECT_EQ(*NormalizeSha256(colons), [] {
    std::string s;
    for (int i = 0; i < 32; ++i) s += "ab";
    return s;
  }());
  EXPECT_EQ(*NormalizeSha256("sha256:" + kHexA), kHexA);
  EXPECT_EQ(NormalizeSha256(kHexA.substr(1)).error().reason, "invalid_ek_sha256");
  EXPECT_NE(NormalizeSha256(kHexA.substr(1)).error().message.find("63 hex digits"),
            std::string::npos);
  EXPECT_FALSE(NormalizeSha256(kHexA.substr(1) + "z").ok());
}

TEST(CtlNames, PathNamesAndEncoding) {
  EXPECT_EQ(*CheckPathName("web-1", "node"), "web-1");
  EXPECT_EQ(CheckPathName("", "node").error().reason, "invalid_node");
  EXPECT_EQ(CheckPathName("a/b", "policy").error().reason, "invalid_policy");
  EXPECT_FALSE(CheckPathName("a\nb", "node").ok());
  EXPECT_FALSE(CheckPathName(std::string(254, 'a'), "node").ok());
  EXPECT_EQ(EncodePathSegment("web 1/\xc3\xa4~._-"), "web%201%2F%C3%A4~._-");
  EXPECT_EQ(EncodePathSegment("a%2Fb"), "a%252Fb");
}

TEST(CtlOutput, SanitizeStripsTerminalControls) {
  EXPECT_EQ(Sanitize("ok \xc3\xa4"), "ok \xc3\xa4");  // UTF-8 letters stay
  EXPECT_EQ(Sanitize("\x1b[31mred\r\n\x7f"), "?[31mred???");
  EXPECT_EQ(Sanitize("a\xc2\x9b"
                     "2Jb"),
            "a?2Jb");  // 8-bit CSI (U+009B)
}

TEST(CtlOutput, TableAlignsColumnsWithoutTrailingBlanks) {
  Table t({"ID", "NAME", "NOTE"});
  t.AddRow({"1", "alpha", "x"});
  t.AddRow({"200", "", "long note"});
  t.AddRow({"3", "\xc3\xa4\xc3\xa4", "\x1b"});  // two code points, four bytes
  EXPECT_EQ(t.rows(), 3u);
  EXPECT_EQ(t.Render(),
            "ID    NAME    NOTE\n"
            "1     alpha   x\n"
            "200   -       long note\n"
            "3     \xc3\xa4\xc3\xa4      ?\n");
}

TEST(CtlOutput, TableHeaderOnlyAndShortRows) {
  Table t({"A", "BBB"});
  EXPECT_EQ(t.Render(), "A   BBB\n");
  t.AddRow({"xyzw"});  // missing cells print as "-"
  EXPECT_EQ(t.Render(), "A      BBB\nxyzw   -\n");
}

TEST(CtlOutput, FieldsAlignKeys) {
  EXPECT_EQ(RenderFields({{"id", "1"}, {"hostname", ""}, {"x", "a\tb"}}),
            "id:        1\n"
            "hostname:  -\n"
            "x:         a?b\n");
}

TEST(CtlOutput, Ages) {
  const int64_t now = 1'700'000'000;
  EXPECT_EQ(FormatAge(0, now), "never");
  EXPECT_EQ(FormatAge(now, now), "now");
  EXPECT_EQ(FormatAge(now - 59, now), "59s ago");
  EXPECT_EQ(FormatAge(now - 60, now), "1m ago");
  EXPECT_EQ(FormatAge(now - 300, now), "5m ago");
  EXPECT_EQ(FormatAge(now - 3599, now), "59m ago");
  EXPECT_EQ(FormatAge(now - 3600, now), "1h ago");
  EXPECT_EQ(FormatAge(now - 86399, now), "23h ago");
  EXPECT_EQ(FormatAge(now - 2 * 86400 - 5, now), "2d ago");
  EXPECT_EQ(FormatAge(now + 3 * 3600, now), "in 3h");
  EXPECT_EQ(FormatTime(0), "never");
  EXPECT_EQ(FormatTime(1714564800), "2024-05-01 12:00:00 UTC");
}

TEST(CtlOutput, TolerantJsonAccessors) {
  const json j = {{"s", "x"}, {"n", 5}, {"a", {"p", "q", 3}}, {"z", nullptr}};
  EXPECT_EQ(JStr(j, "s"), "x");
  EXPECT_EQ(JStr(j, "n"), "5");
  EXPECT_EQ(JStr(j, "z"), "");
  EXPECT_EQ(JStr(j, "missing"), "");
  EXPECT_EQ(JStr(json::array(), "s"), "");
  EXPECT_EQ(JInt(j, "n"), 5);
  EXPECT_EQ(JInt(j, "s"), 0);
  EXPECT_EQ(Join(JArr(j, "a"), ","), "p,q");
  EXPECT_TRUE(JArr(j, "s").empty());
}

// ---- whole commands through Run() with a fake transport ------------------------

class FakeApi final : public AdminApi {
 public:
  struct State {
    std::vector<Request> requests;
    Result<json> response = json::object();
    int connects = 0;
    std::string last_base_url, last_ca, last_cert, last_key;
  };
  explicit FakeApi(std::shared_ptr<State> s) : s_(std::move(s)) {}
  Result<json> Send(const Request& r) override {
    s_->requests.push_back(r);
    return s_->response;
  }

 private:
  std::shared_ptr<State> s_;
};

// A temp admin dir with ca.crt / admin.crt / admin.key; removed on destruction.
struct TempAdminDir {
  std::filesystem::path path;
  TempAdminDir() {
    char tmpl[] = "/tmp/ctl_test.XXXXXX";
    path = mkdtemp(tmpl);
    for (const char* f : {"ca.crt", "admin.crt", "admin.key"}) {
      std::ofstream(path / f) << "PEM of " << f;
    }
  }
  ~TempAdminDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

class CtlRun : public ::testing::Test {
 protected:
  static constexpr int64_t kNow = 1'700'000'000;

  void SetUp() override {
    unsetenv("TPMESH_AUTHORITY");
    unsetenv("TPMESH_ADMIN_DIR");
    state_ = std::make_shared<FakeApi::State>();
  }
  void TearDown() override {
    unsetenv("TPMESH_AUTHORITY");
    unsetenv("TPMESH_ADMIN_DIR");
  }

  // Runs with the standard credentials unless `bare`.
  int Run(std::vector<std::string> args, bool bare = false) {
    if (!bare) {
      args.insert(args.begin(),
                  {"--authority", "https://[::1]:8443/", "--admin-dir", dir_.path.string()});
    }
    out_.str("");
    err_.str("");
    auto state = state_;
    Io io{out_, err_, kNow, [state](const Connection& c) -> Result<std::unique_ptr<AdminApi>> {
            ++state->connects;
            state->last_base_url = c.base_url;
            state->last_ca = c.ca_pem;
            state->last_cert = c.cert_pem;
            state->last_key = c.key_pem;
            return std::unique_ptr<AdminApi>(std::make_unique<FakeApi>(state));
          }};
    return ctl::Run(args, io);
  }
  const Request& Last() const { return state_->requests.back(); }
  bool Has(const std::ostringstream& s, const std::string& needle) const {
    return s.str().find(needle) != std::string::npos;
  }

  TempAdminDir dir_;
  std::shared_ptr<FakeApi::State> state_;
  std::ostringstream out_, err_;
};

json Node(const std::string& id, const std::string& host, const std::string& status,
          int64_t last_seen) {
  json n = {{"node_id", id},
            {"hostname", host},
            {"status", status},
            {"status_reason", ""},
            {"ek_sha256", std::string(64, 'e')},
            {"wg_public_key", Base64Encode(Bytes(32, 7))},
            {"endpoints", {"[2001:db8::1]:51820", "[2001:db8::2]:51820"}},
            {"pcr_policy", "prod"},
            {"pcrs", {{"10", kHexA}, {"7", kHexA}}},
            {"enrolled_at", 1714564800},
            {"updated_at", 1714564800},
            {"last_seen", last_seen},
            {"enroll_count", 2}};
  if (status == "active") {
    n["overlay_prefix"] = "fd00:1:2:1::/64";
    n["overlay_address"] = "fd00:1:2:1::1";
  }
  return n;
}

TEST_F(CtlRun, NodesListTable) {
  state_->response = json{
      {"generation", 3},
      {"mesh_prefix", "fd00:1:2::/48"},
      {"nodes",
       {Node("00112233445566778899", "web1", "active", kNow - 300), Node("aabbccddeeff00112233",
                                                                         "db\x1b"
                                                                         "1",
                                                                         "pending", 0)}}};
  ASSERT_EQ(Run({"nodes", "list"}), 0) << err_.str();
  ASSERT_EQ(state_->requests.size(), 1u);
  EXPECT_EQ(Last().method, "GET");
  EXPECT_EQ(Last().path, "/v1/admin/nodes");
  EXPECT_EQ(state_->last_base_url, "https://[::1]:8443");  // trailing '/' dropped
  EXPECT_EQ(state_->last_ca, "PEM of ca.crt");
  EXPECT_EQ(state_->last_cert, "PEM of admin.crt");
  EXPECT_EQ(state_->last_key, "PEM of admin.key");
  EXPECT_EQ(out_.str(),
            "generation 3, mesh fd00:1:2::/48, 1 active / 2 total\n"
            "\n"
            "NODE ID                HOSTNAME   STATUS    ADDRESS         ENDPOINTS                 "
            "                LAST SEEN\n"
            "00112233445566778899   web1       active    fd00:1:2:1::1   "
            "[2001:db8::1]:51820,[2001:db8::2]:51820   5m ago\n"
            "aabbccddeeff00112233   db?1       pending   -               "
            "[2001:db8::1]:51820,[2001:db8::2]:51820   never\n");
}

TEST_F(CtlRun, NodesListEmptyAndAliasAndJsonOutput) {
  state_->response =
      json{{"generation", 0}, {"mesh_prefix", "fd00::/48"}, {"nodes", json::array()}};
  ASSERT_EQ(Run({"nodes", "ls"}), 0);
  EXPECT_TRUE(Has(out_, "generation 0, mesh fd00::/48, 0 active / 0 total\nno nodes yet"));
  // -o json after the subcommand (global options fall through): the raw response, pretty.
  ASSERT_EQ(Run({"nodes", "list", "-o", "json"}), 0);
  EXPECT_EQ(json::parse(out_.str()), *state_->response);
  EXPECT_TRUE(Has(out_, "\n  \"generation\": 0"));
  EXPECT_EQ(Run({"-o", "yaml", "nodes", "list"}), 2);
}

TEST_F(CtlRun, NodesShow) {
  state_->response = Node("00112233445566778899", "web 1", "active", kNow - 7200);
  ASSERT_EQ(Run({"nodes", "show", "web 1"}), 0) << err_.str();
  EXPECT_EQ(Last().path, "/v1/admin/nodes/web%201");
  EXPECT_TRUE(Has(out_, "hostname:         web 1\n"));
  EXPECT_TRUE(Has(out_, "overlay address:  fd00:1:2:1::1\n"));
  EXPECT_TRUE(Has(out_, "last seen:        2023-11-14 20:13:20 UTC (2h ago)\n"));
  EXPECT_TRUE(Has(out_, "pcrs (last quote):\n   7  " + kHexA + "\n  10  " + kHexA + "\n"));
  EXPECT_EQ(Run({"nodes", "show", "a/b"}), 2);
  EXPECT_TRUE(Has(err_, "tpmeshctl: invalid_node: node 'a/b': must not contain '/'"));
  EXPECT_EQ(state_->requests.size(), 1u);
}

TEST_F(CtlRun, NodesRevokeNeedsReason) {
  EXPECT_EQ(Run({"nodes", "revoke", "web1"}), 2);
  EXPECT_TRUE(Has(err_, "tpmeshctl: reason_required: nodes revoke needs --reason"));
  EXPECT_EQ(Run({"nodes", "revoke", "web1", "--reason", "  "}), 2);
  EXPECT_EQ(state_->connects, 0);  // nothing sent, not even connected

  json n = Node("00112233445566778899", "web1", "revoked", 0);
  n["status_reason"] = "disk stolen";
  state_->response = n;
  ASSERT_EQ(Run({"nodes", "revoke", "web1", "--reason", "disk stolen"}), 0) << err_.str();
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/v1/admin/nodes/web1/revoke");
  EXPECT_EQ(*Last().body, (json{{"reason", "disk stolen"}}));
  EXPECT_EQ(out_.str(), "node 00112233445566778899 (web1) is now revoked: disk stolen\n");
}

TEST_F(CtlRun, NodesApproveAndRestoreReasonOptional) {
  state_->response = Node("00112233445566778899", "web1", "active", 0);
  ASSERT_EQ(Run({"nodes", "approve", "00112233445566778899"}), 0);
  EXPECT_EQ(Last().path, "/v1/admin/nodes/00112233445566778899/approve");
  EXPECT_EQ(*Last().body, json::object());
  ASSERT_EQ(Run({"nodes", "restore", "web1", "--reason", "found"}), 0);
  EXPECT_EQ(Last().path, "/v1/admin/nodes/web1/restore");
  EXPECT_EQ(*Last().body, (json{{"reason", "found"}}));
  EXPECT_EQ(Run({"nodes", "approve", "web1", "--reason", "a\nb"}), 2);
  EXPECT_TRUE(Has(err_, "invalid_reason"));
}

TEST_F(CtlRun, TokensCreate) {
  state_->response = json{{"id", "0123456789abcdef"},  {"comment", "rack 4"}, {"created_at", kNow},
                          {"expires_at", kNow + 7200}, {"revoked", false},    {"used_by", ""},
                          {"token", "tpmesh-secret"}};
  ASSERT_EQ(Run({"tokens", "create", "--ttl", "2h", "--comment", "rack 4"}), 0) << err_.str();
  EXPECT_EQ(Last().path, "/v1/admin/tokens");
  EXPECT_EQ(*Last().body, (json{{"ttl_seconds", 7200}, {"comment", "rack 4"}}));
  EXPECT_TRUE(Has(out_, "shown only this once"));
  EXPECT_TRUE(Has(out_, "\n    tpmesh-secret\n"));
  EXPECT_TRUE(Has(out_, "(in 2h)"));
  ASSERT_EQ(Run({"tokens", "create"}), 0);
  EXPECT_EQ((*Last().body)["ttl_seconds"], 3600);  // default 1h
  const size_t sent = state_->requests.size();
  EXPECT_EQ(Run({"tokens", "create", "--ttl", "31d"}), 2);
  EXPECT_TRUE(Has(err_, "tpmeshctl: invalid_ttl: --ttl 31d: tokens live at most 30d"));
  EXPECT_EQ(Run({"tokens", "create", "--ttl", "1w"}), 2);
  EXPECT_TRUE(Has(err_, "invalid_ttl"));
  EXPECT_EQ(state_->requests.size(), sent);
}

TEST_F(CtlRun, TokensListAndRevoke) {
  auto tok = [](const std::string& id, int64_t expires, bool revoked, const std::string& used_by) {
    json t = {{"id", id},
              {"comment", ""},
              {"created_at", kNow - 60},
              {"expires_at", expires},
              {"revoked", revoked},
              {"used_by", used_by}};
    if (!used_by.empty()) t["used_at"] = kNow - 30;
    return t;
  };
  state_->response = json{{"tokens",
                           {tok("aaaaaaaaaaaaaaaa", kNow + 600, false, ""),
                            tok("bbbbbbbbbbbbbbbb", kNow - 600, false, ""),
                            tok("cccccccccccccccc", kNow + 600, true, ""),
                            tok("dddddddddddddddd", kNow + 600, false, "00112233445566778899")}}};
  ASSERT_EQ(Run({"tokens", "list"}), 0);
  EXPECT_EQ(out_.str(),
            "ID                 STATE                          CREATED   EXPIRES   COMMENT\n"
            "aaaaaaaaaaaaaaaa   unused                         1m ago    in 10m    -\n"
            "bbbbbbbbbbbbbbbb   expired                        1m ago    10m ago   -\n"
            "cccccccccccccccc   revoked                        1m ago    in 10m    -\n"
            "dddddddddddddddd   used by 00112233445566778899   1m ago    in 10m    -\n");

  state_->response = tok("aaaaaaaaaaaaaaaa", kNow + 600, true, "");
  ASSERT_EQ(Run({"tokens", "revoke", "AAAAAAAAAAAAAAAA"}), 0);
  EXPECT_EQ(Last().method, "DELETE");
  EXPECT_EQ(Last().path, "/v1/admin/tokens/aaaaaaaaaaaaaaaa");
  EXPECT_EQ(out_.str(), "token aaaaaaaaaaaaaaaa revoked\n");
  EXPECT_EQ(Run({"tokens", "revoke", "tpmesh-0123"}), 2);
  EXPECT_TRUE(Has(err_, "invalid_token_id"));
}

TEST_F(CtlRun, EkAllowListRemove) {
  state_->response = json{{"ek_sha256", kHexA}};
  ASSERT_EQ(Run({"ek", "allow", "SHA256:" + std::string(64, 'A'), "--comment", "asset 7"}), 0)
      << err_.str();
  EXPECT_EQ(*Last().body, (json{{"ek_sha256", kHexA}, {"comment", "asset 7"}}));
  EXPECT_EQ(out_.str(), "EK sha256:" + kHexA + " allowed\n");

  state_->response =
      json{{"ek_allowlist",
            {{{"ek_sha256", kHexA}, {"comment", "asset 7"}, {"created_at", kNow - 86400}}}}};
  ASSERT_EQ(Run({"ek", "ls"}), 0);
  EXPECT_EQ(out_.str(), "EK SHA256" + std::string(55 + 3, ' ') + "ADDED    COMMENT\n" + kHexA +
                            "   1d ago   asset 7\n");

  state_->response = json{{"removed", kHexA}};
  for (const char* verb : {"remove", "rm", "delete"}) {
    ASSERT_EQ(Run({"ek", verb, kHexA}), 0) << verb;
    EXPECT_EQ(Last().method, "DELETE");
    EXPECT_EQ(Last().path, "/v1/admin/ek-allowlist/" + kHexA);
  }
  EXPECT_EQ(Run({"ek", "allow", "abc"}), 2);
  EXPECT_TRUE(Has(err_, "tpmeshctl: invalid_ek_sha256: EK fingerprint has 3 hex digits"));
}

TEST_F(CtlRun, PolicySetAdoptRemoveList) {
  state_->response = json{{"name", "prod"},
                          {"bank", "sha256"},
                          {"pcrs", {{"0", {kHexA}}, {"7", {kHexA, kHexA}}}},
                          {"created_at", kNow}};
  ASSERT_EQ(Run({"policy", "set", "prod", "--pcr", "7=" + kHexA, "--pcr", "0=" + kHexA, "--pcr",
                 "7=" + kHexB, "--pcr", "7=" + kHexA}),
            0)
      << err_.str();
  const std::string b_lower = std::string(63, 'b') + "c";
  EXPECT_EQ(*Last().body,
            (json{{"name", "prod"}, {"pcrs", {{"0", {kHexA}}, {"7", {kHexA, b_lower}}}}}));
  EXPECT_EQ(out_.str(), "policy prod saved: sha256 PCRs 0,7[2]\n");

  ASSERT_EQ(Run({"policy", "adopt", "prod", "--from-node", "web1"}), 0);
  EXPECT_EQ(*Last().body, (json{{"name", "prod"}, {"from_node", "web1"}}));
  EXPECT_EQ(Run({"policy", "adopt", "prod"}), 2);  // --from-node is required
  EXPECT_TRUE(Has(err_, "--from-node"));

  state_->response = json{{"policies", {*state_->response}}};
  ASSERT_EQ(Run({"policy", "list"}), 0);
  EXPECT_TRUE(Has(out_, "NAME   BANK     PCRS     CREATED\nprod   sha256   0,7[2]   now\n"));

  state_->response = json{{"removed", "my policy"}};
  ASSERT_EQ(Run({"policy", "rm", "my policy"}), 0);
  EXPECT_EQ(Last().path, "/v1/admin/policies/my%20policy");

  const size_t sent = state_->requests.size();
  EXPECT_EQ(Run({"policy", "set", "prod", "--pcr", "7=abcd"}), 2);
  EXPECT_TRUE(Has(err_, "tpmeshctl: invalid_pcr: --pcr 7: value has 4 hex digits"));
  EXPECT_EQ(Run({"policy", "set", "prod"}), 2);
  EXPECT_EQ(Run({"policy", "set", std::string(65, 'p'), "--pcr", "7=" + kHexA}), 2);
  EXPECT_TRUE(Has(err_, "longer than 64"));
  EXPECT_EQ(state_->requests.size(), sent);
}

TEST_F(CtlRun, AuditList) {
  state_->response = json{{"audit",
                           {{{"id", 9},
                             {"at", 1714564800},
                             {"actor", "admin:root"},
                             {"action", "node.revoke"},
                             {"target", "web1"},
                             {"reason", "stolen"},
                             {"detail", ""}}}}};
  ASSERT_EQ(Run({"audit", "list", "--limit", "5"}), 0);
  EXPECT_EQ(Last().path, "/v1/admin/audit?limit=5");
  EXPECT_EQ(out_.str(),
            "ID   TIME                      ACTOR        ACTION        TARGET   REASON   DETAIL\n"
            "9    2024-05-01 12:00:00 UTC   admin:root   node.revoke   web1     stolen   -\n");
  ASSERT_EQ(Run({"audit", "list"}), 0);
  EXPECT_EQ(Last().path, "/v1/admin/audit?limit=100");
  EXPECT_EQ(Run({"audit", "list", "--limit", "0"}), 2);
  EXPECT_EQ(Run({"audit", "list", "--limit", "many"}), 2);
  EXPECT_TRUE(Has(err_, "tpmeshctl: usage:"));
}

TEST_F(CtlRun, ServerErrorsExitOneWithReason) {
  state_->response =
      MakeError(Code::kNotFound, "node_not_found", "no node with id or hostname 'x'");
  EXPECT_EQ(Run({"nodes", "show", "x"}), 1);
  EXPECT_EQ(err_.str(), "tpmeshctl: node_not_found: no node with id or hostname 'x'\n");
  EXPECT_TRUE(out_.str().empty());
}

// Issue 12: a response is read through its proto/ type, so a shape that is
// not the authority's is refused, naming the field, instead of rendering a
// table of blanks and zeros.
TEST_F(CtlRun, UnexpectedResponseShapeIsRefusedNotRendered) {
  state_->response = json::array({1, 2});
  EXPECT_EQ(Run({"nodes", "list"}), 1);
  EXPECT_TRUE(Has(err_,
                  "tpmeshctl: bad_response: unexpected response from the authority (try -o json): "
                  "body: must be a JSON object"))
      << err_.str();
  EXPECT_TRUE(out_.str().empty());
  state_->response =
      json{{"generation", 1}, {"mesh_prefix", "fd00::/48"}, {"nodes", {1, "x", nullptr}}};
  EXPECT_EQ(Run({"nodes", "list"}), 1);
  EXPECT_TRUE(Has(err_, "nodes[0]: must be an object")) << err_.str();
  state_->response =
      json{{"generation", 1}, {"mesh_prefix", "fd00::/48"}, {"nodes", json::array()}};
  EXPECT_EQ(Run({"nodes", "list"}), 0);
  // The raw output stays available for whatever the authority sends.
  state_->response = json::array({1, 2});
  EXPECT_EQ(Run({"nodes", "list", "-o", "json"}), 0);
}

TEST_F(CtlRun, UsageErrors) {
  EXPECT_EQ(Run({}, true), 2);
  EXPECT_EQ(Run({"nodes"}), 2);
  EXPECT_EQ(Run({"nodes", "frobnicate"}), 2);
  EXPECT_TRUE(Has(err_,
                  "tpmeshctl: usage: 'tpmeshctl nodes' needs one of these commands: list show "
                  "approve revoke restore\n"));
  EXPECT_TRUE(Has(err_, "Run 'tpmeshctl nodes --help'"));
  EXPECT_EQ(Run({"policy", "set", "p", "--pcr", "7=" + kHexA, "8=" + kHexA}),
            2);  // one value per --pcr
  EXPECT_EQ(Run({"nodes", "show"}), 2);
  EXPECT_EQ(Run({"nodes", "show", "a", "b"}), 2);
  EXPECT_EQ(state_->connects, 0);
  EXPECT_EQ(Run({"--help"}, true), 0);
  EXPECT_TRUE(Has(out_, "nodes"));
  EXPECT_TRUE(Has(out_, "--admin-dir"));
  EXPECT_EQ(Run({"policy", "set", "--help"}, true), 0);
  EXPECT_TRUE(Has(out_, "--pcr"));
}

TEST_F(CtlRun, MissingCredentialsSayWhatToSet) {
  EXPECT_EQ(Run({"nodes", "list"}, true), 2);
  EXPECT_TRUE(Has(err_, "tpmeshctl: missing_authority:"));
  EXPECT_TRUE(Has(err_, "TPMESH_AUTHORITY"));
  EXPECT_EQ(Run({"--authority", "https://a:1", "nodes", "list"}, true), 2);
  EXPECT_TRUE(Has(err_, "tpmeshctl: missing_credentials:"));
  EXPECT_TRUE(Has(err_, "--admin-dir"));
  EXPECT_TRUE(Has(err_, "TPMESH_ADMIN_DIR"));
  EXPECT_EQ(Run({"--authority", "https://a:1", "--ca", "x", "nodes", "list"}, true), 2);
  EXPECT_TRUE(Has(err_, "--cert FILE and --key FILE"));
  EXPECT_EQ(Run({"--authority", "http://a:1", "--admin-dir", "/x", "nodes", "list"}, true), 2);
  EXPECT_TRUE(Has(err_, "invalid_authority"));
  EXPECT_EQ(
      Run({"--authority", "https://a:1", "--admin-dir", "/nonexistent/dir", "nodes", "list"}, true),
      1);
  EXPECT_TRUE(
      Has(err_, "tpmeshctl: cannot_read_file: cannot read CA certificate /nonexistent/dir/ca.crt"));
  std::ofstream(dir_.path / "empty.crt").flush();
  EXPECT_EQ(Run({"--authority", "https://a:1", "--admin-dir", dir_.path.string(), "--ca",
                 (dir_.path / "empty.crt").string(), "nodes", "list"},
                true),
            1);
  EXPECT_TRUE(Has(err_, "empty.crt (from --ca) is empty"));
  EXPECT_EQ(Run({"--authority", "https://a:1", "--admin-dir", dir_.path.string(), "--key",
                 dir_.path.string(), "nodes", "list"},
                true),
            1);
  EXPECT_TRUE(Has(err_, "cannot_read_file"));
  EXPECT_TRUE(Has(err_, "(from --key)"));
  EXPECT_EQ(state_->connects, 0);
}

TEST_F(CtlRun, EnvironmentAndExplicitFileOverrides) {
  TempAdminDir other;
  std::ofstream(other.path / "mine.crt") << "my CA";
  setenv("TPMESH_AUTHORITY", "https://authority.example:8443", 1);
  setenv("TPMESH_ADMIN_DIR", dir_.path.c_str(), 1);
  state_->response = json{{"tokens", json::array()}};
  ASSERT_EQ(Run({"tokens", "list", "--ca", (other.path / "mine.crt").string()}, true), 0)
      << err_.str();
  EXPECT_EQ(state_->last_base_url, "https://authority.example:8443");
  EXPECT_EQ(state_->last_ca, "my CA");
  EXPECT_EQ(state_->last_cert, "PEM of admin.crt");
  EXPECT_EQ(out_.str(), "no enrollment tokens\n");
}

// ---- key rotation: keys list | rotate, tpmeshctl rotate ------------------------

TEST(CtlOutput, FormatUntil) {
  const int64_t now = 1'700'000'000;
  EXPECT_EQ(FormatUntil(0, now), "-");
  EXPECT_EQ(FormatUntil(-5, now), "-");
  EXPECT_EQ(FormatUntil(now - 1, now), "due");
  EXPECT_EQ(FormatUntil(now, now), "due");
  EXPECT_EQ(FormatUntil(now + 59, now), "in 59s");
  EXPECT_EQ(FormatUntil(now + 3 * 86400 + 7, now), "in 3d");
}

json KeyPolicy() {
  return {
      {"period_seconds", 2592000}, {"lead_time_seconds", 3600},       {"overlap_seconds", 3600},
      {"jitter_seconds", 259200},  {"confirm_deadline_seconds", 300}, {"retry_after_seconds", 600},
      {"scheduled", true}};
}

// A GET /v1/admin/keys answer as the authority sends it (every field), with
// the members of `fields` in place of the defaults.
json KeysBody(const json& fields) {
  json body{{"generation", 0},
            {"now", 1'700'000'000},  // the authority's clock: not shown
            {"policy", KeyPolicy()},
            {"config_signing", json::array()},
            {"authority_ca", json::array()},
            {"nodes", json::array()}};
  if (fields.is_object()) body.update(fields);
  return body;
}

json KeyNode(const std::string& id, const std::string& host, int64_t key_since,
             int64_t next_rotation, json rotation) {
  return {{"node_id", id},
          {"hostname", host},
          {"status", "active"},
          {"wg_public_key", "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789+/ABCDE="},
          {"key_since", key_since},
          {"age_seconds", 1},  // ignored: the age is key_since vs now
          {"next_rotation", next_rotation},
          {"rotation", std::move(rotation)},
          {"previous_public_key", ""},
          {"previous_valid_until", 0}};
}

json Rotation(const std::string& phase) {
  return {{"phase", phase},        {"next_public_key", ""},
          {"attempt", 1},          {"awaiting", json::array()},
          {"confirm_deadline", 0}, {"retry_at", 0}};
}

constexpr const char* kPolicyLine =
    "rotation every 30d (jitter 3d), announced 1h ahead, old key valid 1h after the switch, "
    "prepare deadline 5m, retry after 10m\n";

TEST_F(CtlRun, RotateSelectedNodes) {
  state_->response = json{{"requested",
                           {{{"node_id", "00112233445566778899"}, {"hostname", "web1"}},
                            {{"node_id", "aabbccddeeff00112233"}, {"hostname", "db1"}}}},
                          {"generation", 13}};
  ASSERT_EQ(Run({"rotate", "--node", "web1", "--node", "aabbccddeeff00112233", "--node", "web1",
                 "--reason", "disk swapped"}),
            0)
      << err_.str();
  ASSERT_EQ(state_->requests.size(), 1u);
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/v1/admin/keys/rotate");
  ASSERT_TRUE(Last().body.has_value());
  EXPECT_EQ(*Last().body, (json{{"nodes", {"web1", "aabbccddeeff00112233"}},  // duplicate dropped
                                {"reason", "disk swapped"}}));
  EXPECT_EQ(out_.str(),
            "rotation requested for 2 node(s): web1, db1 (generation 13)\n"
            "watch it with 'tpmeshctl keys list'\n");
}

TEST_F(CtlRun, KeysRotateAllIsTheSameCommand) {
  state_->response = json{{"requested", {{{"node_id", "00112233445566778899"}, {"hostname", ""}}}},
                          {"generation", 4}};
  ASSERT_EQ(Run({"keys", "rotate", "--all"}), 0) << err_.str();
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/v1/admin/keys/rotate");
  EXPECT_EQ(*Last().body, (json{{"all", true}}));  // blank or absent --reason is not sent
  // no hostname: the node id stands in
  EXPECT_EQ(out_.str(),
            "rotation requested for 1 node(s): 00112233445566778899 (generation 4)\n"
            "watch it with 'tpmeshctl keys list'\n");
  ASSERT_EQ(Run({"rotate", "--all", "--reason", "  "}), 0);
  EXPECT_EQ(*Last().body, (json{{"all", true}}));
  ASSERT_EQ(Run({"keys", "rotate", "--node", "web 1", "--reason", "test"}), 0);
  EXPECT_EQ(*Last().body, (json{{"nodes", {"web 1"}}, {"reason", "test"}}));

  state_->response = json{{"requested", json::array()}, {"generation", 4}};
  ASSERT_EQ(Run({"rotate", "--all"}), 0);
  EXPECT_TRUE(Has(out_, "rotation requested for 0 node(s) (generation 4)\n"));
}

TEST_F(CtlRun, RotateSigningKeySendsOneRequestAndShowsTheKeys) {
  state_->response = KeysBody({{"generation", 3},
                               {"now", 1000},
                               {"config_signing",
                                {{{"public_key", "QUJDREVGR0hJSktMTU5PUA=="},
                                  {"state", "current"},
                                  {"not_before", 0},
                                  {"not_after", 0}},
                                 {{"public_key", "WFlaWFlaWFlaWFlaWFlaWA=="},
                                  {"state", "next"},
                                  {"not_before", 0},
                                  {"not_after", 0}}}}});
  ASSERT_EQ(Run({"keys", "rotate-signing-key", "--reason", "yearly"}), 0) << err_.str();
  ASSERT_EQ(state_->requests.size(), 1u);
  EXPECT_EQ(Last().method, "POST");
  EXPECT_EQ(Last().path, "/v1/admin/keys/signing/rotate");
  ASSERT_TRUE(Last().body.has_value());
  EXPECT_EQ(*Last().body, (json{{"reason", "yearly"}}));
  EXPECT_TRUE(Has(out_, "next")) << out_.str();
  EXPECT_EQ(Run({"keys", "rotate-signing-key", "--reason", std::string("bad\x01")}), 2);
  EXPECT_EQ(state_->requests.size(), 1u) << "a bad reason sends nothing";
}

TEST_F(CtlRun, RotateCaSendsOneRequestAndShowsTheCas) {
  state_->response = KeysBody({{"generation", 3},
                               {"now", 1000},
                               {"authority_ca",
                                {{{"fingerprint", std::string(64, 'a')},
                                  {"state", "current"},
                                  {"not_before", 0},
                                  {"not_after", 0}},
                                 {{"fingerprint", std::string(64, 'b')},
                                  {"state", "next"},
                                  {"not_before", 1000},
                                  {"not_after", 0}}}}});
  ASSERT_EQ(Run({"keys", "rotate-ca"}), 0) << err_.str();
  ASSERT_EQ(state_->requests.size(), 1u);
  EXPECT_EQ(Last().path, "/v1/admin/keys/ca/rotate");
  EXPECT_EQ(*Last().body, json::object());
  EXPECT_TRUE(Has(out_, "authority CAs")) << out_.str();
  EXPECT_TRUE(Has(out_, std::string(16, 'b') + "...")) << out_.str();
}

TEST_F(CtlRun, RotateUsageErrorsSendNothing) {
  for (const char* group : {"", "keys"}) {
    auto args = [&](std::vector<std::string> rest) {
      std::vector<std::string> a;
      if (*group != '\0') a.push_back(group);
      a.push_back("rotate");
      a.insert(a.end(), rest.begin(), rest.end());
      return a;
    };
    EXPECT_EQ(Run(args({})), 2) << group;
    EXPECT_TRUE(Has(err_, "tpmeshctl: missing_nodes: rotate needs --node NODE")) << err_.str();
    EXPECT_EQ(Run(args({"--reason", "x"})), 2);
    EXPECT_TRUE(Has(err_, "missing_nodes"));
    EXPECT_EQ(Run(args({"--all", "--node", "web1"})), 2);
    EXPECT_TRUE(Has(err_, "tpmeshctl: conflicting_options: rotate takes either --node NODE"))
        << err_.str();
    EXPECT_EQ(Run(args({"--node", "a/b"})), 2);
    EXPECT_TRUE(Has(err_, "tpmeshctl: invalid_node: node 'a/b': must not contain '/'"));
    EXPECT_EQ(Run(args({"--node", ""})), 2);
    EXPECT_TRUE(Has(err_, "invalid_node"));
    EXPECT_EQ(Run(args({"--all", "--reason", "a\nb"})), 2);
    EXPECT_TRUE(Has(err_, "invalid_reason"));
    EXPECT_EQ(Run(args({"--node"})), 2);            // option without a value
    EXPECT_EQ(Run(args({"--node", "a", "b"})), 2);  // one value per --node
    EXPECT_EQ(Run(args({"--all", "--bogus"})), 2);
  }
  EXPECT_TRUE(state_->requests.empty());
  EXPECT_EQ(state_->connects, 0);

  EXPECT_EQ(Run({"keys"}), 2);
  EXPECT_TRUE(Has(err_,
                  "tpmeshctl: usage: 'tpmeshctl keys' needs one of these commands: list rotate "
                  "rotate-ca rotate-signing-key\n"));
  EXPECT_EQ(Run({"rotate", "--help"}, true), 0);
  EXPECT_TRUE(Has(out_, "--node"));
  EXPECT_TRUE(Has(out_, "--all"));
}

TEST_F(CtlRun, KeysListTable) {
  json awaiting = Rotation("preparing");
  awaiting["attempt"] = 2;
  awaiting["awaiting"] = {"web1", "cache1"};
  awaiting["next_public_key"] = "bmV4dGtleW5leHRrZXluZXh0a2V5bmV4dGtleW5leA==";
  awaiting["confirm_deadline"] = kNow + 200;
  json postponed = Rotation("postponed");
  postponed["retry_at"] = kNow + 120;
  state_->response = KeysBody(
      {{"generation", 12},
       {"nodes",
        {KeyNode("00112233445566778899", "web1", kNow - 100000, kNow + 3 * 86400 + 5, nullptr),
         KeyNode("aabbccddeeff00112233", "db1", kNow - 31 * 86400, kNow - 10, awaiting),
         KeyNode("ffeeddccbbaa99887766", "cache1", kNow - 3600, kNow + 7200, postponed)}}});
  ASSERT_EQ(Run({"keys", "list"}), 0) << err_.str();
  ASSERT_EQ(state_->requests.size(), 1u);
  EXPECT_EQ(Last().method, "GET");
  EXPECT_EQ(Last().path, "/v1/admin/keys");
  EXPECT_FALSE(Last().body.has_value());
  const std::string key = "AbCdEfGhIj\xe2\x80\xa6";  // 10 characters and an ellipsis
  EXPECT_EQ(out_.str(),
            std::string(kPolicyLine) +
                "\n"
                "HOSTNAME   NODE ID                KEY           AGE   NEXT ROTATION   ROTATION\n"
                "web1       00112233445566778899   " +
                key +
                "   1d    in 3d           -\n"
                "db1        aabbccddeeff00112233   " +
                key +
                "   31d   due             "
                "preparing, attempt 2, waiting for web1, cache1\n"
                "cache1     ffeeddccbbaa99887766   " +
                key +
                "   1h    in 2h           "
                "postponed, retry in 2m\n");
}

TEST_F(CtlRun, KeysListEveryRotationPhase) {
  json preparing_alone = Rotation("preparing");  // nobody left to wait for
  json postponed_due = Rotation("postponed");
  postponed_due["retry_at"] = kNow - 5;
  json postponed_unknown = Rotation("postponed");  // retry_at 0: not scheduled
  state_->response = KeysBody({{"nodes",
                                {KeyNode("n1", "h-requested", kNow, 0, Rotation("requested")),
                                 KeyNode("n2", "h-committing", kNow, 0, Rotation("committing")),
                                 KeyNode("n3", "h-prep", kNow, 0, preparing_alone),
                                 KeyNode("n4", "h-post-due", kNow, 0, postponed_due),
                                 KeyNode("n5", "h-post-unknown", kNow, 0, postponed_unknown),
                                 KeyNode("n6", "h-future", kNow, 0, Rotation("aborted\x1b[2J"))}}});
  ASSERT_EQ(Run({"keys", "ls"}), 0) << err_.str();
  EXPECT_EQ(Last().path, "/v1/admin/keys");
  const std::string out = out_.str();
  auto row = [&](const std::string& host) {
    const size_t at = out.find(host + " ");
    return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
  };
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  EXPECT_TRUE(ends_with(row("h-requested"), "   requested")) << row("h-requested");
  EXPECT_TRUE(ends_with(row("h-committing"), "   committing")) << row("h-committing");
  EXPECT_TRUE(ends_with(row("h-prep"), "   preparing, attempt 1")) << row("h-prep");
  EXPECT_TRUE(ends_with(row("h-post-due"), "   postponed, retry due")) << row("h-post-due");
  EXPECT_TRUE(ends_with(row("h-post-unknown"), "   postponed")) << row("h-post-unknown");
  EXPECT_TRUE(ends_with(row("h-future"), "   aborted?[2J")) << row("h-future");  // sanitized
  // key_since == now: age 0s; next_rotation 0: no schedule
  EXPECT_NE(row("h-requested").find("   0s    -   "), std::string::npos) << row("h-requested");
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
}

TEST_F(CtlRun, KeysListEmptyWithConfigSigningKeys) {
  state_->response = KeysBody({{"config_signing",
                                {{{"public_key", "Q3VycmVudFNpZ25pbmdLZXk="},
                                  {"state", "current"},
                                  {"not_before", 1714564800},
                                  {"not_after", 0}},
                                 {{"public_key", "TmV4dA=="},
                                  {"state", "next"},
                                  {"not_before", 1714568400},
                                  {"not_after", 1717156800}}}}});
  ASSERT_EQ(Run({"keys", "list"}), 0) << err_.str();
  EXPECT_EQ(out_.str(),
            std::string(kPolicyLine) +
                "\n"
                "no nodes with keys yet\n"
                "\n"
                "config-signing keys\n"
                "KEY           STATE     VALID FROM                VALID UNTIL\n"
                "Q3VycmVudF\xe2\x80\xa6   current   2024-05-01 12:00:00 UTC   -\n"
                "TmV4dA==      next      2024-05-01 13:00:00 UTC   2024-05-31 12:00:00 UTC\n");

  // empty config_signing: no second table; -o json: the response as is
  state_->response = KeysBody({{"config_signing", json::array()}});
  ASSERT_EQ(Run({"keys", "list"}), 0);
  EXPECT_EQ(out_.str(), std::string(kPolicyLine) + "\nno nodes with keys yet\n");
  ASSERT_EQ(Run({"keys", "list", "-o", "json"}), 0);
  EXPECT_EQ(json::parse(out_.str()), *state_->response);
}

// Issue 12: the keys responses are read through proto/keys.h, so a shape that
// is not the authority's is refused, naming the field, instead of rendering
// "-" cells (as the other admin responses, UnexpectedResponseShapeIsRefused).
TEST_F(CtlRun, KeysResponsesOfTheWrongShapeAreRefusedNotRendered) {
  struct Case {
    json response;
    std::string problem;
  };
  json odd_policy = KeysBody({});
  odd_policy["policy"]["period_seconds"] = "30d";
  json no_policy = KeysBody({});
  no_policy.erase("policy");
  for (const Case& c : {
           Case{odd_policy, "policy.period_seconds: must be an integer"},
           Case{no_policy, "policy: required field missing"},
           Case{KeysBody({{"config_signing", {1}}}), "config_signing[0]: must be an object"},
           Case{KeysBody({{"nodes", {json{{"node_id", "n1"}}}}}), "nodes[0].hostname"},
           Case{KeysBody({{"nodes", {KeyNode("n2", "h", kNow, 0, "preparing")}}}),
                "nodes[0].rotation: must be an object"},
           Case{KeysBody({{"nodes", "x"}}), "nodes: must be an array"},
           Case{json::array({1, 2}), "body: must be a JSON object"},
           Case{json(nullptr), "body: must be a JSON object"},
       }) {
    state_->response = c.response;
    EXPECT_EQ(Run({"keys", "list"}), 1) << c.response.dump();
    EXPECT_TRUE(Has(err_,
                    "tpmeshctl: bad_response: unexpected response from the authority (try -o "
                    "json): " +
                        c.problem))
        << err_.str();
    EXPECT_TRUE(out_.str().empty()) << out_.str();
    // The raw output stays available for whatever the authority sends.
    EXPECT_EQ(Run({"keys", "list", "-o", "json"}), 0);
  }
  for (const json& odd : {json::array({1, 2}), json::object(), json{{"requested", "x"}}}) {
    state_->response = odd;
    EXPECT_EQ(Run({"rotate", "--all"}), 1) << odd.dump();
    EXPECT_TRUE(Has(err_, "tpmeshctl: bad_response: ")) << err_.str();
    EXPECT_TRUE(out_.str().empty());
  }
}

}  // namespace
}  // namespace tpmesh::ctl
