// What tpmesh-client reads from outside, read without exceptions: the ack
// answer and config envelope from the authority, the enrollment token's
// sources, the state directory; and the exit code each failure maps to.
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "enroll-client/src/config_response.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/client/ack_answer.h"
#include "tpmesh/client/daemon.h"
#include "tpmesh/client/exit_codes.h"
#include "tpmesh/client/node_state.h"
#include "tpmesh/client/renew.h"
#include "tpmesh/client/token.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::client {
namespace {

const std::string kKey = Base64Encode(Bytes(32, 0x42));

// ---- ack answer -------------------------------------------------------------

TEST(AckAnswer, ReadsWhatTheProtocolSays) {
  auto plain = ParseAckAnswer(R"({"ok": true})");
  ASSERT_TRUE(plain.ok()) << plain.error().ToString();
  EXPECT_EQ(plain->rotation, AckAnswer::Rotation::kNone);
  EXPECT_FALSE(plain->ca_bundle);

  auto prepare =
      ParseAckAnswer(R"({"ok": true, "rotation": {"action": "prepare"}, "ca_bundle": "PEM"})");
  ASSERT_TRUE(prepare.ok()) << prepare.error().ToString();
  EXPECT_EQ(prepare->rotation, AckAnswer::Rotation::kPrepare);
  ASSERT_TRUE(prepare->ca_bundle);
  EXPECT_EQ(*prepare->ca_bundle, "PEM");

  auto sw =
      ParseAckAnswer(R"({"rotation": {"action": "switch", "next_public_key": ")" + kKey + R"("}})");
  ASSERT_TRUE(sw.ok()) << sw.error().ToString();
  EXPECT_EQ(sw->rotation, AckAnswer::Rotation::kSwitch);
  EXPECT_EQ(sw->next_public_key, Bytes(32, 0x42));

  auto nulls = ParseAckAnswer(R"({"ok": true, "rotation": null, "ca_bundle": null, "extra": [1]})");
  ASSERT_TRUE(nulls.ok()) << nulls.error().ToString();
  EXPECT_EQ(nulls->rotation, AckAnswer::Rotation::kNone);
  EXPECT_FALSE(nulls->ca_bundle);
}

// Each was an uncaught nlohmann::json::type_error in the daemon (value() on
// a non-string), or silently taken as "no directive".
TEST(AckAnswer, WrongTypesAreErrorsNamingTheField) {
  const std::pair<std::string, std::string> cases[] = {
      {R"({"rotation": {"action": 5}})", "rotation.action"},
      {R"({"rotation": {"action": null}})", "rotation.action"},
      {R"({"rotation": {}})", "rotation.action"},
      {R"({"rotation": {"action": ["switch"]}})", "rotation.action"},
      {R"({"rotation": {"action": "explode"}})", "rotation.action"},
      {R"({"rotation": "switch"})", "rotation: must be an object"},
      {R"({"rotation": []})", "rotation: must be an object"},
      {R"({"ca_bundle": 7})", "ca_bundle"},
      {R"({"ca_bundle": {"pem": "x"}})", "ca_bundle"},
      {R"({"rotation": {"action": "switch", "next_public_key": []}})", "next_public_key"},
      {R"({"rotation": {"action": "switch", "next_public_key": 32}})", "next_public_key"},
      {R"({"rotation": {"action": "switch"}})", "next_public_key"},
      {R"({"rotation": {"action": "switch", "next_public_key": "AAAA"}})", "next_public_key"},
      {R"({"rotation": {"action": "switch", "next_public_key": "not base64!"}})",
       "next_public_key"},
      {R"([1, 2])", "body: must be a JSON object"},
      {R"("ok")", "body: must be a JSON object"},
      {R"(null)", "body: must be a JSON object"},
      {R"({"ok": tru)", "body: not valid JSON"},
      {"", "body: not valid JSON"},
      {std::string("{\"ca_bundle\": \"\xff\"}"), "body: not valid JSON"},  // invalid UTF-8
  };
  for (const auto& [body, field] : cases) {
    Result<AckAnswer> r = MakeError(Code::kInternal, "unset", "");
    EXPECT_NO_THROW(r = ParseAckAnswer(body)) << body;
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().reason, "invalid_ack_answer") << body;
    EXPECT_NE(r.error().message.find(field), std::string::npos)
        << body << ": " << r.error().message;
  }
}

// ---- config envelope ------------------------------------------------------

// A well-formed delta envelope (the signature is not checked before the base).
std::string DeltaWithoutBase() {
  meshcfg::MeshDelta d;
  d.from_generation = 2;
  d.to_generation = 3;
  d.mesh_prefix = "fd12:3456:789a::/48";
  d.mtu = 1420;
  d.to_hash = Bytes(32, 1);
  d.signature = Bytes(64, 2);
  return R"({"generation": 3, "delta": )" + meshcfg::ToJson(d) + "}";
}

TEST(ConfigResponse, WrongShapesAreErrorsNotExceptions) {
  const std::vector<Bytes> trusted = {Bytes(32, 1)};
  const std::pair<std::string, std::string> cases[] = {
      {"[]", "body: must be a JSON object"},
      {"{", "body: not valid JSON"},
      {"{}", "generation: required field missing"},
      {R"({"generation": 3})", "exactly one of 'full' and 'delta'"},
      {R"({"generation": 3, "full": 5})", "full: must be an object"},
      {R"({"generation": 3, "full": "x"})", "full: must be an object"},
      {R"({"generation": 3, "delta": []})", "delta: must be an object"},
      {R"({"generation": 3, "delta": {"from": 1}})",
       "delta: from_generation: required field missing"},
      {DeltaWithoutBase(), "no base state"},
  };
  for (const auto& [body, what] : cases) {
    Result<meshcfg::SignedState> r = MakeError(Code::kInternal, "unset", "");
    EXPECT_NO_THROW(r = VerifyConfigResponse(body, nullptr, trusted)) << body;
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().reason, "invalid_config") << body;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << body << ": " << r.error().message;
  }
  // A 'full' of the right type but wrong content: meshcfg's own error.
  auto bad = VerifyConfigResponse(R"({"generation": 3, "full": {"state": 1}})", nullptr, trusted);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().reason, "");
}

// ---- enrollment token -----------------------------------------------------

TokenSources Src(std::optional<std::string> flag, std::optional<std::string> file,
                 std::optional<std::string> env) {
  TokenSources s;
  s.flag = std::move(flag);
  s.file = std::move(file);
  s.env = std::move(env);
  return s;
}

class TokenTest : public ::testing::Test {
 protected:
  std::string File(const std::string& name, const std::string& content, mode_t mode = 0600) {
    const std::string p = dir_.path() + "/" + name;
    EXPECT_TRUE(pki::WritePrivateFile(p, content).ok());
    EXPECT_EQ(chmod(p.c_str(), mode), 0);
    return p;
  }
  static Error Err(const TokenSources& s) {
    auto r = ResolveToken(s);
    EXPECT_FALSE(r.ok());
    return r.ok() ? Error{} : r.error();
  }
  // The error message for a --token-file alone.
  static std::string FileError(const std::string& path) {
    return Err(Src(std::nullopt, path, std::nullopt)).message;
  }
  tpmesh::testing::TempDir dir_;
};

TEST_F(TokenTest, OneSourceGivesTheToken) {
  auto none = ResolveToken({});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(*none);
  auto flag = ResolveToken(Src("tok-1", std::nullopt, std::nullopt));
  ASSERT_TRUE(flag.ok() && *flag);
  EXPECT_EQ(**flag, "tok-1");
  auto env = ResolveToken(Src(std::nullopt, std::nullopt, "tok-2"));
  ASSERT_TRUE(env.ok() && *env);
  EXPECT_EQ(**env, "tok-2");
  for (const char* content : {"tok-3", "tok-3\n", "tok-3\r\n", "tok-3\n\n"}) {
    auto file = ResolveToken(Src(std::nullopt, File("t", content), std::nullopt));
    ASSERT_TRUE(file.ok()) << file.error().ToString();
    ASSERT_TRUE(*file);
    EXPECT_EQ(**file, "tok-3") << "content " << content;
  }
  // An empty TPMESH_TOKEN counts as unset.
  auto empty_env = ResolveToken(Src(std::nullopt, File("t", "tok-4\n"), ""));
  ASSERT_TRUE(empty_env.ok()) << empty_env.error().ToString();
  EXPECT_EQ(**empty_env, "tok-4");
}

TEST_F(TokenTest, TwoSourcesAreAUsageErrorNamingBoth) {
  const std::string f = File("t", "secret-in-file\n");
  Error e = Err(Src("secret-on-cmdline", f, std::nullopt));
  EXPECT_EQ(e.reason, "usage");
  EXPECT_EQ(ExitCodeFor(e), ExitCode::kUsage);
  EXPECT_NE(e.message.find("--token and --token-file"), std::string::npos) << e.message;
  e = Err(Src(std::nullopt, f, "secret-in-env"));
  EXPECT_NE(e.message.find("--token-file and TPMESH_TOKEN"), std::string::npos) << e.message;
  e = Err(Src("secret-on-cmdline", f, "secret-in-env"));
  EXPECT_NE(e.message.find("--token, --token-file and TPMESH_TOKEN"), std::string::npos)
      << e.message;
  EXPECT_EQ(e.message.find("secret"), std::string::npos) << "a token in an error: " << e.message;
}

TEST_F(TokenTest, BadTokenFilesAreRefusedNamingTheFile) {
  const std::string loose = File("loose", "tok\n", 0644);
  Error e = Err(Src(std::nullopt, loose, std::nullopt));
  EXPECT_EQ(e.reason, "usage");
  EXPECT_NE(e.message.find(loose), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("chmod 600"), std::string::npos) << e.message;
  EXPECT_NE(FileError(File("gw", "tok\n", 0620)).find("group or others"), std::string::npos);
  EXPECT_NE(FileError(File("empty", "\n")).find("empty"), std::string::npos);
  EXPECT_NE(FileError(File("two", "tok\nother\n")).find("more than one line"), std::string::npos);
  EXPECT_NE(FileError(File("big", std::string(5000, 'a'))).find("larger than"), std::string::npos);
  EXPECT_NE(FileError(dir_.path() + "/missing").find("missing"), std::string::npos);
  EXPECT_NE(FileError(dir_.path()).find("not a regular file"), std::string::npos);
  const std::string fifo = dir_.path() + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_NE(FileError(fifo).find("not a regular file"), std::string::npos);
  EXPECT_EQ(Err(Src("", std::nullopt, std::nullopt)).reason, "usage");
}

// ---- state directory and certificate --------------------------------------

class NodeStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ca =
        pki::AuthorityCa::Create("test CA", SystemClock::Instance().Now(), std::chrono::hours(24));
    ASSERT_TRUE(ca.ok());
    ca_ = std::make_unique<pki::AuthorityCa>(std::move(*ca));
  }
  std::string Cert(std::chrono::seconds age, std::chrono::seconds lifetime) {
    auto key = pki::GenerateKeyPem();
    auto csr = pki::MakeCsr(*key, "n1");
    auto cert = ca_->IssueNodeCert(*csr, "0123456789abcdef0123",
                                   SystemClock::Instance().Now() - age, lifetime);
    EXPECT_TRUE(cert.ok());
    return cert.ok() ? *cert : "";
  }
  void Write(const std::string& name, const std::string& content) {
    ASSERT_TRUE(pki::WritePrivateFile(dir_.path() + "/" + name, content).ok());
  }
  void WriteState() {
    proto::EnrollFinishResponse nj;
    nj.status = "active";
    nj.node_id = "0123456789abcdef0123";
    nj.overlay_address = "fd00:1:2:3::1";
    nj.overlay_prefix = "fd00:1:2:3::/64";
    nj.mesh_prefix = "fd00:1:2::/48";
    nj.config_signing_key = Bytes(32, 7);
    ASSERT_NO_FATAL_FAILURE(Write("node.json", proto::ToJson(nj)));
    ASSERT_NO_FATAL_FAILURE(Write("authority", "https://127.0.0.1:1\n"));
    ASSERT_NO_FATAL_FAILURE(Write("wg.key", Base64Encode(Bytes(32, 9)) + "\n"));
    ASSERT_NO_FATAL_FAILURE(
        Write("node.crt", Cert(std::chrono::seconds(0), std::chrono::hours(1))));
    ASSERT_NO_FATAL_FAILURE(Write("node.key", "KEY"));
    ASSERT_NO_FATAL_FAILURE(Write("ca.crt", ca_->cert_pem()));
  }
  std::unique_ptr<pki::AuthorityCa> ca_;
  tpmesh::testing::TempDir dir_;
};

TEST_F(NodeStateTest, LoadsAndComparesTheIdentityFiles) {
  ASSERT_NO_FATAL_FAILURE(WriteState());
  auto a = LoadNodeFiles(dir_.path(), {"https://[::1]:2"});
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ((*a)->authority_urls,
            (std::vector<std::string>{"https://127.0.0.1:1", "https://[::1]:2"}));
  auto b = LoadNodeFiles(dir_.path(), {"https://[::1]:2"});
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(SameNodeFiles(**a, **b));
  ASSERT_NO_FATAL_FAILURE(Write("wg.key", Base64Encode(Bytes(32, 10)) + "\n"));
  auto c = LoadNodeFiles(dir_.path(), {"https://[::1]:2"});
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(SameNodeFiles(**a, **c)) << "a new wg.key went unnoticed";
  ASSERT_NO_FATAL_FAILURE(Write("node.key", "OTHER KEY"));
  auto d = LoadNodeFiles(dir_.path(), {"https://[::1]:2"});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(SameNodeFiles(**c, **d)) << "a new node.key went unnoticed";
}

TEST_F(NodeStateTest, MissingAndCorruptFilesAreNamed) {
  auto none = LoadNodeFiles(dir_.path());
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().reason, "not_enrolled");
  EXPECT_EQ(ExitCodeFor(none.error()), ExitCode::kNotEnrolled);
  ASSERT_NO_FATAL_FAILURE(WriteState());
  const std::pair<std::string, std::string> breakage[] = {
      {"node.json", R"({"status": 5})"}, {"wg.key", "short\n"}, {"authority", "\n"}};
  for (const auto& [file, content] : breakage) {
    ASSERT_NO_FATAL_FAILURE(WriteState());
    ASSERT_NO_FATAL_FAILURE(Write(file, content));
    auto r = LoadNodeFiles(dir_.path());
    ASSERT_FALSE(r.ok()) << file;
    EXPECT_EQ(r.error().reason, "state_corrupt") << file;
    EXPECT_NE(r.error().message.find(file), std::string::npos) << r.error().message;
  }
  ASSERT_NO_FATAL_FAILURE(WriteState());
  std::filesystem::remove(dir_.path() + "/node.crt");
  auto r = LoadNodeFiles(dir_.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().reason, "state_corrupt");
  EXPECT_NE(r.error().message.find("node.crt"), std::string::npos) << r.error().message;
}

TEST_F(NodeStateTest, ExpiredCertificateIsNamedBeforeAnyConnection) {
  const TimePoint now = SystemClock::Instance().Now();
  EXPECT_TRUE(CheckNotExpired(Cert(std::chrono::seconds(0), std::chrono::hours(1)), now).ok());
  Status st = CheckNotExpired(Cert(std::chrono::hours(3), std::chrono::hours(1)), now);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().reason, "node_cert_expired");
  EXPECT_NE(st.error().message.find("enroll --force"), std::string::npos) << st.error().message;
  EXPECT_EQ(ExitCodeFor(st.error()), ExitCode::kCertInvalid);
  Status garbage = CheckNotExpired("not a certificate", now);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().reason, "state_corrupt");
}

// ---- exit codes -------------------------------------------------------------

TEST(ExitCodes, ReasonsMapToTheDocumentedCodes) {
  auto code = [](const char* reason) {
    return ToInt(ExitCodeFor(MakeError(Code::kInternal, reason, "m")));
  };
  EXPECT_EQ(code("pending_approval"), 3);
  EXPECT_EQ(code("node_revoked"), 4);
  EXPECT_EQ(code("authority_unreachable"), 5);
  EXPECT_EQ(code("not_enrolled"), 6);
  EXPECT_EQ(code("state_corrupt"), 6);
  EXPECT_EQ(code("node_cert_expired"), 7);
  EXPECT_EQ(code("node_cert_superseded"), 7);
  EXPECT_EQ(code("usage"), 2);
  EXPECT_EQ(code("token_invalid"), 1);
  const std::string help = ExitCodeHelp();
  for (int c = 0; c <= 7; ++c) {
    EXPECT_NE(help.find("\n  " + std::to_string(c) + "  "), std::string::npos)
        << c << " missing in\n"
        << help;
  }
}

// ---- endpoint choice -------------------------------------------------------

// The endpoint a node configures for each peer: IPv6 first, IPv4 first when
// the node itself registered only IPv4 endpoints; the other family when that
// is all a peer has.
TEST(DesiredFor, ConfiguresTheEndpointOfTheFamilyThisNodeHas) {
  auto member = [](const std::string& id, std::vector<std::string> endpoints) {
    meshcfg::MeshMember m;
    m.node_id = id;
    m.hostname = id;
    m.wg_public_key = Bytes(32, static_cast<uint8_t>(id[0]));
    m.endpoints = std::move(endpoints);
    return m;
  };
  meshcfg::MeshState state;
  state.members = {
      member("a", {"[2001:db8::1]:51820"}), member("b", {"192.0.2.2:51820", "[2001:db8::2]:51820"}),
      member("c", {"192.0.2.3:51820"}), member("d", {}), member("e", {"192.0.2.5:51820"})};
  const Bytes key(32, 1);
  auto endpoint_of = [&](const wg::DesiredDevice& d, char peer) -> std::string {
    for (const auto& p : d.peers) {
      if (p.public_key == Bytes(32, static_cast<uint8_t>(peer))) return p.endpoint.value_or("-");
    }
    return "absent";
  };
  // a has IPv6: IPv6 where the peer has it, IPv4 where that is all.
  auto from_a = DesiredFor(state, "a", key, 51820);
  EXPECT_EQ(endpoint_of(from_a, 'b'), "[2001:db8::2]:51820");
  EXPECT_EQ(endpoint_of(from_a, 'c'), "192.0.2.3:51820");
  EXPECT_EQ(endpoint_of(from_a, 'd'), "-");
  // e registered only IPv4: IPv4 first.
  auto from_e = DesiredFor(state, "e", key, 51820);
  EXPECT_EQ(endpoint_of(from_e, 'b'), "192.0.2.2:51820");
  EXPECT_EQ(endpoint_of(from_e, 'a'), "[2001:db8::1]:51820");
  // d registered none: IPv6 first, as the mesh is IPv6-first.
  auto from_d = DesiredFor(state, "d", key, 51820);
  EXPECT_EQ(endpoint_of(from_d, 'b'), "[2001:db8::2]:51820");
  EXPECT_EQ(endpoint_of(from_d, 'e'), "192.0.2.5:51820");
}

}  // namespace
}  // namespace tpmesh::client
