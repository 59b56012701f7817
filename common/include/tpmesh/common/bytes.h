// Byte buffers and encodings shared by all tpmesh libraries.
//
// Bytes is a plain owning buffer; ByteView a non-owning view whose referent
// must outlive it. SecretBytes wipes its memory (sodium_memzero) on
// destruction and on every reassignment: use it for anything secret
// (credential secrets, private keys in memory).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/common/result.h"

namespace tpmesh {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsView(std::string_view s) {
  return ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

// Owning secret buffer, zeroed on destruction. Move-only.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t n);
  explicit SecretBytes(ByteView v);
  SecretBytes(SecretBytes&& o) noexcept;
  SecretBytes& operator=(SecretBytes&& o) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  uint8_t* data() { return buf_.data(); }
  const uint8_t* data() const { return buf_.data(); }
  size_t size() const { return buf_.size(); }
  bool empty() const { return buf_.empty(); }
  ByteView view() const { return ByteView(buf_.data(), buf_.size()); }
  std::span<uint8_t> span() { return std::span<uint8_t>(buf_.data(), buf_.size()); }

 private:
  void Wipe();
  std::vector<uint8_t> buf_;
};

// Constant-time equality (sodium_memcmp); false when sizes differ (the size
// itself is not secret).
bool ConstantTimeEqual(ByteView a, ByteView b);

// Lowercase hex. Empty data -> "".
std::string HexEncode(ByteView data);
// Hex digits of either case, two per byte; "" -> empty bytes. An odd count or
// a non-hex character: kInvalidArgument "invalid_hex". Callers that need a
// fixed length check the size themselves.
[[nodiscard]] Result<Bytes> HexDecode(std::string_view hex);

// SHA-256 of `data` (libsodium): the one SHA-256 call in tpmesh; SHA-256
// with other digests in one code path goes through ossl::Digest.
Bytes Sha256(ByteView data);
// Lowercase hex of Sha256(data).
std::string Sha256Hex(ByteView data);

// Standard base64 with padding (RFC 4648 section 4).
std::string Base64Encode(ByteView data);
// Rejects anything that is not canonical padded base64; `what` names the
// field in the error message.
[[nodiscard]] Result<Bytes> Base64Decode(std::string_view b64,
                                         std::string_view what = "base64 field");

}  // namespace tpmesh
