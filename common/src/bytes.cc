#include "tpmesh/common/bytes.h"

#include <sodium.h>

namespace tpmesh {

SecretBytes::SecretBytes(size_t n) : buf_(n) {}
SecretBytes::SecretBytes(ByteView v) : buf_(v.begin(), v.end()) {}
SecretBytes::SecretBytes(SecretBytes&& o) noexcept : buf_(std::move(o.buf_)) { o.buf_.clear(); }
SecretBytes& SecretBytes::operator=(SecretBytes&& o) noexcept {
  if (this != &o) {
    Wipe();
    buf_ = std::move(o.buf_);
    o.buf_.clear();
  }
  return *this;
}
SecretBytes::~SecretBytes() { Wipe(); }
void SecretBytes::Wipe() {
  if (!buf_.empty()) sodium_memzero(buf_.data(), buf_.size());
  buf_.clear();
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string HexEncode(ByteView data) {
  std::string out(data.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), data.data(), data.size());
  out.pop_back();
  return out;
}

Bytes Sha256(ByteView data) {
  Bytes out(crypto_hash_sha256_BYTES);
  static const uint8_t kEmpty = 0;  // libsodium's input is nonnull even when empty
  crypto_hash_sha256(out.data(), data.empty() ? &kEmpty : data.data(), data.size());
  return out;
}

std::string Sha256Hex(ByteView data) { return HexEncode(Sha256(data)); }

Result<Bytes> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return MakeError(Code::kInvalidArgument, "invalid_hex",
                     "hex string has an odd number of digits");
  }
  // libsodium declares its output buffer nonnull, and an empty vector's
  // data() is null: "" never reaches it.
  if (hex.empty()) return Bytes{};
  Bytes out(hex.size() / 2);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, &end) != 0 ||
      end != hex.data() + hex.size()) {
    return MakeError(Code::kInvalidArgument, "invalid_hex",
                     "hex string contains a non-hex character");
  }
  out.resize(len);
  return out;
}

std::string Base64Encode(ByteView data) {
  const int variant = sodium_base64_VARIANT_ORIGINAL;
  std::string out(sodium_base64_ENCODED_LEN(data.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), data.data(), data.size(), variant);
  out.resize(out.size() - 1);  // drop the NUL libsodium writes
  return out;
}

Result<Bytes> Base64Decode(std::string_view b64, std::string_view what) {
  Bytes out(b64.size() / 4 * 3 + 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), b64.data(), b64.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != b64.data() + b64.size()) {
    return MakeError(Code::kInvalidArgument, "invalid_base64",
                     std::string(what) + " is not valid padded base64");
  }
  out.resize(len);
  return out;
}

}  // namespace tpmesh
