// The request target of an HTTP request ("/v1/node/config?since=3&wait=25"),
// read strictly. Pure; thread-safe; fuzzable. Internal to tpmesh_net.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "tpmesh/common/result.h"

namespace tpmesh::net::internal {

struct RequestTarget {
  std::string path;                          // percent-decoded
  std::map<std::string, std::string> query;  // decoded; the first of repeated keys wins
};

// Origin form only ("/path[?query]"). Path and query are percent-decoded
// ('+' is a space in the query); a malformed escape, an encoded NUL or '/'
// in the path, or a byte outside printable ASCII is kInvalidArgument
// "bad_request" with a message naming which.
[[nodiscard]] Result<RequestTarget> ParseRequestTarget(std::string_view target);

}  // namespace tpmesh::net::internal
