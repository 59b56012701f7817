#include "tpmesh/attest/checks.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tpmesh/attest/types.h"

namespace tpmesh::attest {
namespace {

TEST(Checks, FifteenDistinctReasonsRoundTrip) {
  std::set<std::string> reasons;
  for (int i = 1; i <= kCheckCount; ++i) {
    auto c = static_cast<Check>(i);
    std::string r = CheckReason(c);
    EXPECT_FALSE(r.empty());
    EXPECT_FALSE(std::string(CheckDescription(c)).empty());
    reasons.insert(r);
    auto back = CheckFromReason(r);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, c);
  }
  EXPECT_EQ(reasons.size(), static_cast<size_t>(kCheckCount));
  EXPECT_EQ(reasons.count(kReasonMalformed), 0u);
}

TEST(Checks, FailureCarriesReasonAndDenies) {
  Error e = CheckFailure(Check::kQuoteNonce, "nonce differs");
  EXPECT_EQ(e.code, Code::kPermissionDenied);
  EXPECT_EQ(e.reason, "quote_nonce_mismatch");
  EXPECT_EQ(Malformed("x").code, Code::kInvalidArgument);
}

TEST(AkBlob, SerializeParseAndRejectTruncation) {
  AkBlob ak{KeyAlg::kEccP256, {1, 2, 3}, {4, 5}};
  Bytes s = ak.Serialize();
  auto back = AkBlob::Parse(s);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->public_area, ak.public_area);
  EXPECT_EQ(back->private_area, ak.private_area);
  EXPECT_EQ(back->alg, KeyAlg::kEccP256);
  for (size_t n = 0; n < s.size(); ++n) {
    EXPECT_FALSE(AkBlob::Parse(ByteView(s.data(), n)).ok()) << n;
  }
  s.push_back(0);
  EXPECT_FALSE(AkBlob::Parse(s).ok());
}

TEST(PcrSelection, SortsAndRejectsBadInput) {
  auto s = MakePcrSelection(HashAlg::kSha256, {7, 0, 3});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->pcrs, (std::vector<uint32_t>{0, 3, 7}));
  EXPECT_FALSE(MakePcrSelection(HashAlg::kSha256, {1, 1}).ok());
  EXPECT_FALSE(MakePcrSelection(HashAlg::kSha256, {24}).ok());
  EXPECT_FALSE(MakePcrSelection(HashAlg::kSha256, {}).ok());
}

}  // namespace
}  // namespace tpmesh::attest
