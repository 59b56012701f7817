#include "tpmesh/attest/types.h"

#include <algorithm>
#include <string_view>

namespace tpmesh::attest {

const char* KeyAlgName(KeyAlg alg) {
  switch (alg) {
    case KeyAlg::kRsa2048: return "rsa2048";
    case KeyAlg::kEccP256: return "ecc-p256";
  }
  return "unknown";
}

Result<KeyAlg> ParseKeyAlg(std::string_view name) {
  if (name == "rsa2048" || name == "rsa") return KeyAlg::kRsa2048;
  if (name == "ecc-p256" || name == "ecc") return KeyAlg::kEccP256;
  return MakeError(Code::kInvalidArgument, "unknown_key_alg",
                   "unknown key algorithm '" + std::string(name) + "' (use rsa2048 or ecc-p256)");
}

const char* HashAlgName(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1: return "sha1";
    case HashAlg::kSha256: return "sha256";
    case HashAlg::kSha384: return "sha384";
  }
  return "unknown";
}

size_t HashAlgSize(HashAlg alg) {
  switch (alg) {
    case HashAlg::kSha1: return 20;
    case HashAlg::kSha256: return 32;
    case HashAlg::kSha384: return 48;
  }
  return 0;
}

Result<HashAlg> ParseHashAlg(std::string_view name) {
  if (name == "sha1") return HashAlg::kSha1;
  if (name == "sha256") return HashAlg::kSha256;
  if (name == "sha384") return HashAlg::kSha384;
  return MakeError(Code::kInvalidArgument, "unknown_hash_alg",
                   "unknown PCR bank '" + std::string(name) + "' (use sha256)");
}

Result<PcrSelection> MakePcrSelection(HashAlg bank, std::vector<uint32_t> pcrs) {
  std::sort(pcrs.begin(), pcrs.end());
  if (std::adjacent_find(pcrs.begin(), pcrs.end()) != pcrs.end()) {
    return MakeError(Code::kInvalidArgument, "invalid_pcr_selection", "PCR listed twice");
  }
  for (uint32_t p : pcrs) {
    if (p >= 24) {
      return MakeError(Code::kInvalidArgument, "invalid_pcr_selection",
                       "PCR " + std::to_string(p) + " out of range (0-23)");
    }
  }
  if (pcrs.empty()) {
    return MakeError(Code::kInvalidArgument, "invalid_pcr_selection", "empty PCR selection");
  }
  return PcrSelection{bank, std::move(pcrs)};
}

namespace {
constexpr std::string_view kAkMagic = "TPMESH-AK1\n";

void PutU32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}
bool GetU32(ByteView in, size_t& pos, uint32_t& v) {
  if (in.size() - pos < 4) return false;
  v = (uint32_t{in[pos]} << 24) | (uint32_t{in[pos + 1]} << 16) | (uint32_t{in[pos + 2]} << 8) |
      uint32_t{in[pos + 3]};
  pos += 4;
  return true;
}
}  // namespace

Bytes AkBlob::Serialize() const {
  Bytes out(kAkMagic.begin(), kAkMagic.end());
  out.push_back(alg == KeyAlg::kRsa2048 ? 1 : 2);
  PutU32(out, static_cast<uint32_t>(public_area.size()));
  out.insert(out.end(), public_area.begin(), public_area.end());
  PutU32(out, static_cast<uint32_t>(private_area.size()));
  out.insert(out.end(), private_area.begin(), private_area.end());
  return out;
}

Result<AkBlob> AkBlob::Parse(ByteView data) {
  auto bad = [](const std::string& why) {
    return MakeError(Code::kInvalidArgument, "ak_blob_invalid", "AK file is invalid: " + why);
  };
  if (data.size() < kAkMagic.size() + 1 ||
      !std::equal(kAkMagic.begin(), kAkMagic.end(), data.begin())) {
    return bad("missing TPMESH-AK1 header");
  }
  size_t pos = kAkMagic.size();
  AkBlob ak;
  switch (data[pos++]) {
    case 1: ak.alg = KeyAlg::kRsa2048; break;
    case 2: ak.alg = KeyAlg::kEccP256; break;
    default: return bad("unknown key algorithm byte");
  }
  uint32_t n = 0;
  if (!GetU32(data, pos, n) || data.size() - pos < n) return bad("truncated public area");
  ak.public_area.assign(data.begin() + pos, data.begin() + pos + n);
  pos += n;
  if (!GetU32(data, pos, n) || data.size() - pos < n) return bad("truncated private area");
  ak.private_area.assign(data.begin() + pos, data.begin() + pos + n);
  pos += n;
  if (pos != data.size()) return bad("trailing bytes");
  return ak;
}

}  // namespace tpmesh::attest
