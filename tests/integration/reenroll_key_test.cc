// `tpmesh-client enroll --force` re-enrolls with a NEW WireGuard keypair and
// a new node key (a revoked node's keys are never accepted again, a retired
// key must not come back), replacing wg.key only once the authority accepted
// the new one; a first enrollment keeps an existing wg.key. The token comes
// from --token-file or TPMESH_TOKEN, never the command line. Real
// tpmesh-authority and tpmesh-client processes, a real swtpm.
#include <sys/stat.h>

#include <gtest/gtest.h>
#include <sodium.h>

#include <filesystem>
#include <string>

#include "tests/support/authority_proc.h"
#include "tests/support/swtpm.h"
#include "tpmesh/proto/enroll.h"

namespace tpmesh::testing {
namespace {

int Mode(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int>(st.st_mode & 07777);
}

std::string Text(const std::string& path) {
  auto b = ReadFileBytes(path);
  return b.ok() ? std::string(b->begin(), b->end()) : "<missing " + path + ">";
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The base64 public key of the base64 private key in `wg_key_text`.
std::string PublicOf(const std::string& wg_key_text) {
  auto sk = Base64Decode(Trim(wg_key_text), "wg.key");
  if (!sk.ok() || sk->size() != 32) return "<not a key>";
  Bytes pk(32);
  crypto_scalarmult_base(pk.data(), sk->data());
  return Base64Encode(pk);
}

class ReenrollKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(BinDir().empty()) << "TPMESH_BIN_DIR must point at the build's bin dir";
    ASSERT_GE(sodium_init(), 0);
    auto d = ScopedTempDir::Make("tpmesh-reenroll-test.");
    ASSERT_TRUE(d.ok()) << d.error().ToString();
    work_ = std::move(*d);
    auto t = Swtpm::Start();
    ASSERT_TRUE(t.ok()) << t.error().ToString();
    tpm_ = std::move(*t);
    auto a = AuthorityProcess::Start(
        AuthorityOptions{{tpm_->ca_root_pem(), tpm_->ca_intermediate_pem()}});
    ASSERT_TRUE(a.ok()) << a.error().ToString();
    auth_ = std::move(*a);
    dir_ = work_->path() + "/node";
  }

  std::string File(const char* name) const { return dir_ + "/" + name; }

  // tpmesh-client enroll with the token from a file, the environment, or none.
  CommandResult Enroll(bool force, const std::string& token_file, const std::string& env_token) {
    std::vector<std::string> argv = {BinDir() + "/tpmesh-client",
                                     "enroll",
                                     "--authority",
                                     auth_->url(),
                                     "--ca-fingerprint",
                                     auth_->fingerprint(),
                                     "--hostname",
                                     "node-1",
                                     "--tcti",
                                     tpm_->tcti(),
                                     "--state-dir",
                                     dir_};
    if (force) argv.push_back("--force");
    if (!token_file.empty()) {
      argv.push_back("--token-file");
      argv.push_back(token_file);
    }
    std::vector<std::pair<std::string, std::string>> env;
    if (!env_token.empty()) env.emplace_back("TPMESH_TOKEN", env_token);
    return RunCommand(argv, env);
  }

  std::string Token() {
    auto t = auth_->CreateToken();
    EXPECT_TRUE(t.ok()) << t.error().ToString();
    return t.ok() ? *t : "";
  }

  std::string TokenFile() {
    const std::string path = work_->path() + "/token";
    const std::string token = Token() + "\n";
    EXPECT_TRUE(WriteFileBytes(path, AsView(token)).ok());
    EXPECT_EQ(chmod(path.c_str(), 0600), 0);
    return path;
  }

  // The WireGuard key the authority holds for `id`.
  std::string AuthorityKey(const std::string& id) {
    auto r = auth_->AdminGet("/v1/admin/nodes/" + id);
    EXPECT_TRUE(r.ok() && r->status == 200) << (r.ok() ? r->raw : r.error().ToString());
    return r.ok() && r->body.contains("wg_public_key") ? r->body["wg_public_key"].get<std::string>()
                                                       : "";
  }

  std::string NodeId() {
    auto nj = proto::ParseEnrollFinishResponse(Text(File("node.json")));
    EXPECT_TRUE(nj.ok()) << (nj.ok() ? "" : nj.error().ToString());
    return nj.ok() ? nj->node_id : "";
  }

  std::unique_ptr<ScopedTempDir> work_;
  std::unique_ptr<Swtpm> tpm_;
  std::unique_ptr<AuthorityProcess> auth_;
  std::string dir_;
};

#define ASSERT_OK_RUN(r) \
  ASSERT_EQ((r).exit_code, 0) << (r).output << "\nauthority log:\n" << auth_->log()

TEST_F(ReenrollKeyTest, ForcedReenrollmentMakesNewKeysAndKeepsTheOldOnesOnFailure) {
  // A first enrollment keeps the wg.key it finds (an earlier attempt's).
  ASSERT_TRUE(std::filesystem::create_directory(dir_));
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  Bytes sk(32);
  randombytes_buf(sk.data(), sk.size());
  const std::string wg0 = Base64Encode(sk) + "\n";
  ASSERT_TRUE(WriteFileBytes(File("wg.key"), AsView(wg0)).ok());
  ASSERT_EQ(chmod(File("wg.key").c_str(), 0600), 0);
  CommandResult first = Enroll(false, TokenFile(), "");
  ASSERT_OK_RUN(first);
  const std::string id = NodeId();
  const std::string wg1 = Text(File("wg.key")), node_key1 = Text(File("node.key"));
  EXPECT_EQ(wg1, wg0) << "a first enrollment replaced an existing wg.key";
  EXPECT_EQ(AuthorityKey(id), PublicOf(wg1));

  // 1. --force on an active node: new WireGuard key and node key, in place.
  CommandResult again = Enroll(true, "", "");
  ASSERT_OK_RUN(again);
  const std::string wg2 = Text(File("wg.key"));
  EXPECT_NE(wg2, wg1) << "enroll --force kept wg.key";
  EXPECT_NE(Text(File("node.key")), node_key1) << "enroll --force kept node.key";
  EXPECT_EQ(Mode(File("wg.key")), 0600);
  EXPECT_EQ(Trim(Text(File("wg.pub"))), PublicOf(wg2));
  EXPECT_FALSE(std::filesystem::exists(File("wg.key.new")));
  EXPECT_EQ(AuthorityKey(id), PublicOf(wg2)) << again.output;
  EXPECT_NE(again.output.find("new WireGuard key"), std::string::npos) << again.output;

  // 2. A refused re-enrollment (revoked) leaves the working key alone.
  auto revoke = auth_->AdminPost("/v1/admin/nodes/" + id + "/revoke", {{"reason", "test"}});
  ASSERT_TRUE(revoke.ok() && revoke->status == 200) << (revoke.ok() ? revoke->raw : "");
  CommandResult refused = Enroll(true, "", Token());
  EXPECT_EQ(refused.exit_code, 4) << refused.output;  // documented: node revoked
  EXPECT_NE(refused.output.find("node_revoked"), std::string::npos) << refused.output;
  EXPECT_EQ(Text(File("wg.key")), wg2) << "a failed enrollment replaced wg.key";
  EXPECT_FALSE(std::filesystem::exists(File("wg.key.new")))
      << "a failed enrollment left wg.key.new";

  // 3. Restored: back with a key it never had, the token from TPMESH_TOKEN.
  auto restore = auth_->AdminPost("/v1/admin/nodes/" + id + "/restore", {{"reason", "test"}});
  ASSERT_TRUE(restore.ok() && restore->status == 200) << (restore.ok() ? restore->raw : "");
  CommandResult back = Enroll(true, "", Token());
  ASSERT_OK_RUN(back);
  const std::string wg3 = Text(File("wg.key"));
  EXPECT_NE(wg3, wg2);
  EXPECT_NE(wg3, wg1);
  EXPECT_EQ(AuthorityKey(id), PublicOf(wg3));
  EXPECT_EQ(Trim(Text(File("wg.pub"))), PublicOf(wg3));
  EXPECT_TRUE(auth_->Stop().ok());
}

}  // namespace
}  // namespace tpmesh::testing
