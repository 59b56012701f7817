// Encoding of the store's JSON text columns. Encoders fail only on text that
// is not valid UTF-8 (kInvalidArgument "store_invalid_value"); decoders fail
// on anything the encoders would not have written (kInternal "store_corrupt",
// naming `what`, e.g. "nodes.endpoints of node 'ab12...'").
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tpmesh/attest/types.h"
#include "tpmesh/common/result.h"

namespace tpmesh::authority::internal {

// ["a", "b"]
[[nodiscard]] Result<std::string> EncodeStrings(const std::vector<std::string>& v,
                                                std::string_view what);
[[nodiscard]] Result<std::vector<std::string>> DecodeStrings(std::string_view json,
                                                             std::string_view what);

// ["<hex>", ...] (DER certificates)
std::string EncodeBlobs(const std::vector<Bytes>& v);
[[nodiscard]] Result<std::vector<Bytes>> DecodeBlobs(std::string_view json, std::string_view what);

// [0, 7]
std::string EncodeIndices(const std::vector<uint32_t>& v);
[[nodiscard]] Result<std::vector<uint32_t>> DecodeIndices(std::string_view json,
                                                          std::string_view what);

// {"0": "<hex>"}
std::string EncodePcrValues(const attest::PcrValues& v);
[[nodiscard]] Result<attest::PcrValues> DecodePcrValues(std::string_view json,
                                                        std::string_view what);

// {"0": ["<hex>", ...]}
using GoldenMap = std::map<uint32_t, std::vector<Bytes>>;
std::string EncodeGolden(const GoldenMap& g);
[[nodiscard]] Result<GoldenMap> DecodeGolden(std::string_view json, std::string_view what);

}  // namespace tpmesh::authority::internal
