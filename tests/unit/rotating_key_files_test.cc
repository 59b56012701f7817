// The one announce/switch/retire mechanism of the authority's own keys as
// files (rotating_key_files.h): the order of the writes, what Load makes of
// every crash point, the meta formats, and that SigningKeys and CaKeys load
// state directories laid out as every release so far wrote them.
#include "tpmesh/authority/rotating_key_files.h"

#include <sys/stat.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sodium.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/authority_keys.h"
#include "tests/support/fake_env.h"
#include "tests/support/temp_dir.h"
#include "tpmesh/authority/ca_keys.h"
#include "tpmesh/authority/publisher.h"
#include "tpmesh/authority/signing_keys.h"
#include "tpmesh/meshcfg/meshcfg.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::authority {
namespace {

using keyrotate::KeyStep;
using testing::TempDir;

// A version type for RotatingKeyFiles: its text is its identity.
struct Blob {
  std::string text;
  static Result<Blob> Read(const KeyFiles& f, KeySlot slot) {
    TPMESH_ASSIGN_OR_RETURN(std::string t, f.Read(slot, ".blob"));
    if (t.empty()) return KeyFiles::Corrupt(f.Path(slot, ".blob"), "empty");
    return Blob{t};
  }
  KeyFiles::Contents Files(KeySlot) const { return {{".blob", text}}; }
  std::string Id() const { return text; }
  Blob Retired() && { return std::move(*this); }
};

const KeyFiles::Layout kBlobLayout{.stem = "test",
                                   .primary = ".blob",
                                   .exts = {".blob"},
                                   .announce_generation = true,
                                   .rotated_marker = "test.rotated"};

std::string Slurp(const std::string& path) {
  auto r = pki::ReadFile(path);
  return r.ok() ? *r : "<missing>";
}
bool Exists(const std::string& path) { return std::filesystem::exists(path); }
void Write(const std::string& path, const std::string& data) {
  ASSERT_TRUE(pki::WritePrivateFile(path, data).ok()) << path;
}

class BlobFiles : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(Write(File("test.blob"), "A")); }
  std::string File(const std::string& name) const { return dir_.File(name); }
  Result<RotatingKeyFiles<Blob>> Load() const {
    return RotatingKeyFiles<Blob>::Load(KeyFiles(dir_.path(), kBlobLayout), "test key");
  }
  TempDir dir_{"tpmesh-keyfiles"};
};

TEST_F(BlobFiles, AnnounceSwitchRetireWriteTheFilesInOrder) {
  auto k = Load();
  ASSERT_TRUE(k.ok()) << k.error().ToString();
  EXPECT_EQ(k->lifecycle(), keyrotate::KeyLifecycle("test key"));
  ASSERT_TRUE(k->Announce(Blob{"B"}, 100, 7).ok());
  EXPECT_EQ(Slurp(File("test.next.blob")), "B");
  EXPECT_EQ(Slurp(File("test.next.meta")), "100 7\n");
  struct stat sb {};
  ASSERT_EQ(::stat(File("test.next.blob").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  EXPECT_EQ(k->Announce(Blob{"C"}, 101, 8).error().reason, "rotation_in_progress");
  ASSERT_TRUE(k->SetAnnounceGeneration(9).ok());
  EXPECT_EQ(Slurp(File("test.next.meta")), "100 9\n");

  // The owner's files go in after the old version and before the current one.
  bool ran = false;
  ASSERT_TRUE(k->Switch(500, [&]() -> Status {
                 ran = true;
                 EXPECT_EQ(Slurp(File("test.old.blob")), "A");
                 EXPECT_EQ(Slurp(File("test.old.meta")), "500\n");
                 EXPECT_EQ(Slurp(File("test.blob")), "A") << "current is written last";
                 return OkStatus();
               }).ok());
  EXPECT_TRUE(ran);
  EXPECT_EQ(Slurp(File("test.blob")), "B");
  EXPECT_EQ(Slurp(File("test.rotated")), "1\n");
  EXPECT_FALSE(Exists(File("test.next.blob")));
  EXPECT_FALSE(Exists(File("test.next.meta")));
  EXPECT_EQ(k->current().text, "B");
  ASSERT_NE(k->old(), nullptr);
  EXPECT_EQ(k->old()->text, "A");
  EXPECT_EQ(k->lifecycle().old()->until, 500);
  EXPECT_EQ(k->Announce(Blob{"C"}, 600, 0).error().reason, "rotation_in_progress");

  ASSERT_TRUE(k->Retire().ok());
  EXPECT_FALSE(Exists(File("test.old.blob")));
  EXPECT_FALSE(Exists(File("test.old.meta")));
  EXPECT_EQ(k->old(), nullptr);
  EXPECT_TRUE(k->lifecycle().rotated());
  EXPECT_EQ(k->Switch(0).error().reason, "no_next_key");

  auto again = Load();  // what a restart finds
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->current().text, "B");
  EXPECT_EQ(again->next(), nullptr);
  EXPECT_EQ(again->old(), nullptr);
  EXPECT_TRUE(again->lifecycle().rotated()) << "the marker survives the retirement";
}

// A crash at each point of a switch: Load finds a consistent set.
TEST_F(BlobFiles, EveryCrashPointOfASwitchLoadsConsistently) {
  auto k = Load();
  ASSERT_TRUE(k.ok());
  ASSERT_TRUE(k->Announce(Blob{"B"}, 100, 7).ok());
  // Stopped after the old files (the owner's step fails): the old copy equals
  // the current version and is ignored; the rotation is still announced.
  Status st = k->Switch(500, [] { return MakeError(Code::kInternal, "crash", "here"); });
  ASSERT_EQ(st.error().reason, "crash");
  EXPECT_EQ(k->current().text, "A") << "a failed switch changes nothing in memory";
  ASSERT_NE(k->next(), nullptr);
  auto crashed = Load();
  ASSERT_TRUE(crashed.ok()) << crashed.error().ToString();
  EXPECT_EQ(crashed->current().text, "A");
  ASSERT_NE(crashed->next(), nullptr);
  EXPECT_EQ(crashed->next()->text, "B");
  EXPECT_EQ(crashed->lifecycle().next(), (keyrotate::KeyLifecycle::Next{100, 7}));
  EXPECT_EQ(crashed->old(), nullptr);
  EXPECT_FALSE(crashed->lifecycle().rotated());

  // Stopped after the current files, before the next ones were removed: the
  // next copy equals the current version; Load drops it and its files.
  ASSERT_TRUE(k->Switch(500).ok());
  ASSERT_NO_FATAL_FAILURE(Write(File("test.next.blob"), "B"));
  ASSERT_NO_FATAL_FAILURE(Write(File("test.next.meta"), "100 7\n"));
  auto late = Load();
  ASSERT_TRUE(late.ok());
  EXPECT_EQ(late->current().text, "B");
  EXPECT_EQ(late->next(), nullptr);
  ASSERT_NE(late->old(), nullptr);
  EXPECT_EQ(late->old()->text, "A");
  EXPECT_EQ(late->lifecycle().old()->until, 500);
  EXPECT_FALSE(Exists(File("test.next.blob")));
  EXPECT_FALSE(Exists(File("test.next.meta")));
}

TEST_F(BlobFiles, MissingMetaIsDueAndMalformedMetaIsNamed) {
  // Announced just before a crash, the meta not yet written: announced at 0,
  // so its switch is due at the next tick.
  ASSERT_NO_FATAL_FAILURE(Write(File("test.next.blob"), "B"));
  auto k = Load();
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->lifecycle().next(), (keyrotate::KeyLifecycle::Next{0, 0}));
  EXPECT_EQ(k->lifecycle().Due(1000, 600, false), KeyStep::kSwitch);

  for (const char* bad : {"", "x", "100"}) {  // the generation is part of this layout
    ASSERT_NO_FATAL_FAILURE(Write(File("test.next.meta"), bad));
    auto r = Load();
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().reason, "state_corrupt");
    EXPECT_NE(r.error().message.find("test.next.meta: malformed"), std::string::npos)
        << r.error().message;
  }
  std::filesystem::remove(File("test.blob"));
  auto none = Load();
  ASSERT_FALSE(none.ok()) << "no current version";
}

// ---- SigningKeys and CaKeys over state directories of earlier releases ----------

std::string Secret(uint8_t seed_byte, Bytes* public_key) {
  Bytes seed(crypto_sign_SEEDBYTES, seed_byte), pk(crypto_sign_PUBLICKEYBYTES);
  SecretBytes sk(crypto_sign_SECRETKEYBYTES);
  crypto_sign_seed_keypair(pk.data(), sk.data(), seed.data());
  if (public_key) *public_key = pk;
  return std::string(reinterpret_cast<const char*>(sk.data()), sk.size());
}

// What a config published with `keys`' Configure carries.
meshcfg::SignedState Published(const SigningKeys& keys) {
  ConfigPublisher p{SecretBytes{}};
  keys.Configure(p);
  meshcfg::MeshState state;
  state.generation = 1;
  state.mesh_prefix = "fd12:3456:789a::/48";
  EXPECT_TRUE(p.Publish(state).ok());
  auto body = p.Newer(-1);
  EXPECT_TRUE(body);
  if (!body) return {};
  auto signed_state = meshcfg::ParseSignedState(nlohmann::json::parse(*body)["full"].dump());
  EXPECT_TRUE(signed_state.ok()) << signed_state.error().ToString();
  return signed_state.ok() ? *signed_state : meshcfg::SignedState{};
}

TEST(SigningKeysFiles, CorruptOrMissingKeyFilesAreNamed) {
  testing::TempDir dir("tpmesh-signing");
  auto missing = SigningKeys::Load(dir.path());
  ASSERT_FALSE(missing.ok());
  ASSERT_TRUE(pki::WritePrivateFile(dir.File("config-signing.key"), "short").ok());
  auto corrupt = SigningKeys::Load(dir.path());
  ASSERT_FALSE(corrupt.ok());
  EXPECT_EQ(corrupt.error().reason, "state_corrupt");
  EXPECT_NE(corrupt.error().message.find("config-signing.key"), std::string::npos);
}

// The files exactly as releases before the shared mechanism wrote them.
TEST(SigningKeysFiles, LoadsTheLayoutEarlierReleasesWrote) {
  ASSERT_GE(sodium_init(), 0);
  TempDir dir("tpmesh-signing-layout");
  Bytes current, next, old;
  Write(dir.File("config-signing.key"), Secret(1, &current));
  Write(dir.File("config-signing.next.key"), Secret(2, &next));
  Write(dir.File("config-signing.next.meta"), "1800000100 42\n");
  auto announced = SigningKeys::Load(dir.path());
  ASSERT_TRUE(announced.ok()) << announced.error().ToString();
  SigningKeys& a = **announced;
  EXPECT_EQ(a.current_public(), current);
  EXPECT_TRUE(a.has_next());
  EXPECT_EQ(a.next_announced_at(), 1800000100);
  EXPECT_EQ(a.next_announce_generation(), 42);
  auto info = a.Info();
  ASSERT_EQ(info.size(), 2u);
  EXPECT_EQ(info[1].public_key, next);
  EXPECT_EQ(info[1].state, "next");
  EXPECT_EQ(info[1].since, 1800000100);
  EXPECT_EQ(info[1].announce_generation, 42);

  // After a switch: the old key co-signs until its meta says.
  TempDir dir2("tpmesh-signing-layout");
  Write(dir2.File("config-signing.key"), Secret(2, nullptr));
  Write(dir2.File("config-signing.old.key"), Secret(1, &old));
  Write(dir2.File("config-signing.old.meta"), "1800000700\n");
  Write(dir2.File("config-signing.rotated"), "1\n");
  auto switched = SigningKeys::Load(dir2.path());
  ASSERT_TRUE(switched.ok()) << switched.error().ToString();
  SigningKeys& s = **switched;
  EXPECT_EQ(s.current_public(), next);
  EXPECT_TRUE(s.has_old());
  EXPECT_EQ(s.old_until(), 1800000700);
  EXPECT_EQ(s.Due(1800000699, 600, false), KeyStep::kNone);
  EXPECT_EQ(s.Due(1800000700, 600, false), KeyStep::kRetire);
  meshcfg::SignedState published = Published(s);
  EXPECT_EQ(published.signer_public_key, next);
  EXPECT_EQ(published.state.signing_keys, (std::vector<Bytes>{next, old}));
  EXPECT_EQ(published.co_signatures.size(), 1u);
  ASSERT_TRUE(s.Retire().ok());
  EXPECT_FALSE(std::filesystem::exists(dir2.File("config-signing.old.key")));
  EXPECT_FALSE(std::filesystem::exists(dir2.File("config-signing.old.meta")));
  auto after = SigningKeys::Load(dir2.path());
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE((*after)->has_old());
  ASSERT_EQ((*after)->Info().size(), 1u);
  // config-signing.rotated: configs keep announcing the one key after a restart.
  EXPECT_EQ(Published(**after).state.signing_keys, (std::vector<Bytes>{next}));
  EXPECT_TRUE(Published(**after).co_signatures.empty());
}

TEST(CaKeysFiles, LoadsTheLayoutEarlierReleasesWroteAndNamesCorruptFiles) {
  TempDir dir("tpmesh-ca-layout");
  testing::FakeClock clock;
  auto made = testing::InitAuthorityKeys(dir.File("state"), clock);
  ASSERT_TRUE(made.ok()) << made.error().ToString();
  const std::string state = dir.File("state");
  const std::string fp = made->cas->Current()->Fingerprint();
  // An announced CA as releases wrote it: ca.next.crt/.key and "<announced_at>".
  auto next = pki::AuthorityCa::Create("tpmesh authority CA", clock.Now(), std::chrono::hours(24));
  ASSERT_TRUE(next.ok());
  Write(state + "/ca.next.key", next->key_pem());
  Write(state + "/ca.next.crt", next->cert_pem());
  Write(state + "/ca.next.meta", "1800000100\n");
  auto announced = CaKeys::Load(state);
  ASSERT_TRUE(announced.ok()) << announced.error().ToString();
  EXPECT_EQ((*announced)->Current()->Fingerprint(), fp);
  EXPECT_TRUE((*announced)->has_next());
  EXPECT_EQ((*announced)->next_announced_at(), 1800000100);
  auto info = (*announced)->Info();
  ASSERT_EQ(info.size(), 2u);
  EXPECT_EQ(info[1].fingerprint, next->Fingerprint());
  EXPECT_EQ(info[1].since, 1800000100);
  EXPECT_EQ((*announced)->Bundle(), made->cas->Bundle() + next->cert_pem());

  // A switch that finished just before a crash left the next files: dropped.
  Write(state + "/ca.next.key", made->cas->Current()->key_pem());
  Write(state + "/ca.next.crt", made->cas->Current()->cert_pem());
  auto dropped = CaKeys::Load(state);
  ASSERT_TRUE(dropped.ok());
  EXPECT_FALSE((*dropped)->has_next());
  EXPECT_FALSE(std::filesystem::exists(state + "/ca.next.crt"));
  EXPECT_FALSE(std::filesystem::exists(state + "/ca.next.meta"));

  // A retired CA: its certificate only, and "<until>".
  Write(state + "/ca.old.crt", next->cert_pem());
  Write(state + "/ca.old.meta", "1800000900\n");
  auto retired = CaKeys::Load(state);
  ASSERT_TRUE(retired.ok()) << retired.error().ToString();
  EXPECT_TRUE((*retired)->has_old());
  EXPECT_EQ((*retired)->old_until(), 1800000900);
  EXPECT_EQ((*retired)->Info().back().state, "retired");
  EXPECT_EQ((*retired)->Due(1800000900, 600, false), KeyStep::kRetire);
  Write(state + "/ca.old.crt", next->cert_pem() + made->cas->Current()->cert_pem());
  auto two = CaKeys::Load(state);
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().reason, "state_corrupt");
  EXPECT_NE(two.error().message.find("ca.old.crt: not one certificate"), std::string::npos);
}

}  // namespace
}  // namespace tpmesh::authority
