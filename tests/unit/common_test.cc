#include <gtest/gtest.h>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/env.h"
#include "tpmesh/common/result.h"

namespace tpmesh {
namespace {

Result<int> Half(int x) {
  if (x % 2) return MakeError(Code::kInvalidArgument, "odd", "odd number");
  return x / 2;
}

Result<int> Quarter(int x) {
  TPMESH_ASSIGN_OR_RETURN(int h, Half(x));
  TPMESH_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(Result, PropagatesErrors) {
  auto ok = Quarter(8);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 2);
  auto bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().reason, "odd");
  EXPECT_EQ(bad.error().code, Code::kInvalidArgument);
}

TEST(Bytes, HexRoundTrip) {
  Bytes b = {0x00, 0xff, 0x10};
  EXPECT_EQ(HexEncode(b), "00ff10");
  auto back = HexDecode("00ff10");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, b);
  EXPECT_FALSE(HexDecode("0").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

TEST(Bytes, Base64RejectsGarbage) {
  Bytes b = {1, 2, 3, 4, 5};
  auto enc = Base64Encode(b);
  EXPECT_EQ(enc, "AQIDBAU=");
  auto dec = Base64Decode(enc);
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(*dec, b);
  auto bad = Base64Decode("AQID!AU=", "ek_public");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("ek_public"), std::string::npos);
  EXPECT_FALSE(Base64Decode("AQIDBAU").ok());  // missing padding
}

TEST(Bytes, ConstantTimeEqual) {
  Bytes a = {1, 2, 3}, b = {1, 2, 3}, c = {1, 2, 4}, d = {1, 2};
  EXPECT_TRUE(ConstantTimeEqual(a, b));
  EXPECT_FALSE(ConstantTimeEqual(a, c));
  EXPECT_FALSE(ConstantTimeEqual(a, d));
}

// Issue 11: HexDecode("") handed libsodium a null output buffer (the ASan+UBSan
// authority aborted on POST /v1/admin/ek-allowlist {}). This binary checks
// nonnull attributes (tests/unit/CMakeLists.txt), so such a call aborts it.
TEST(Bytes, EmptyInputsNeverHandLibsodiumANullPointer) {
  auto hex = HexDecode("");
  ASSERT_TRUE(hex.ok()) << hex.error().ToString();
  EXPECT_TRUE(hex->empty());
  EXPECT_TRUE(HexDecode(std::string_view()).ok());
  EXPECT_EQ(HexEncode(Bytes{}), "");
  EXPECT_EQ(Base64Encode(Bytes{}), "");
  auto b64 = Base64Decode("");
  ASSERT_TRUE(b64.ok()) << b64.error().ToString();
  EXPECT_TRUE(b64->empty());
  EXPECT_TRUE(ConstantTimeEqual(Bytes{}, Bytes{}));
  SecretBytes empty{ByteView{}};
  empty = SecretBytes(size_t{0});
  EXPECT_TRUE(empty.empty());
}

// FIPS 180-2 test vectors, and the empty input (which libsodium must not get
// as a null pointer).
TEST(Bytes, Sha256KnownAnswers) {
  EXPECT_EQ(Sha256Hex(AsView("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex(Bytes{}), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256(AsView("abc")).size(), 32u);
}

TEST(SecretBytes, MovesAndKeepsContent) {
  Bytes raw = {9, 8, 7};
  SecretBytes s(raw);
  SecretBytes t(std::move(s));
  EXPECT_TRUE(s.empty());  // NOLINT(bugprone-use-after-move)
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t.data()[0], 9);
}

TEST(Env, FromUnixSecondsSaturatesFarFutureDates) {
  // 9999-12-31T23:59:59Z, as swtpm's EK certificates say.
  TimePoint t = FromUnixSeconds(253402300799);
  EXPECT_GT(t, FromUnixSeconds(9'000'000'000));
  EXPECT_EQ(ToUnixSeconds(FromUnixSeconds(1'800'000'000)), 1'800'000'000);
}

}  // namespace
}  // namespace tpmesh
