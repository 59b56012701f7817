// Where `tpmesh-client enroll` takes its one-time enrollment token from
// (docs/operations.md, "Admitting hosts"):
//
//   --token-file PATH  the file's content, trailing newline trimmed; the file
//                      must be a regular file of one line, at most 4 KiB,
//                      with no permission bits for group or others (refused
//                      otherwise, naming the chmod: a token readable by other
//                      local users is as good as theirs).
//   TPMESH_TOKEN       the environment variable (readable only by the same
//                      user and root, in /proc/<pid>/environ); an empty value
//                      counts as unset.
//   --token TEXT       kept for tests and one-off use: visible to every local
//                      user in /proc/<pid>/cmdline while enrollment runs.
#pragma once

#include <optional>
#include <string>

#include "tpmesh/common/result.h"

namespace tpmesh::client {

struct TokenSources {
  std::optional<std::string> flag;  // --token
  std::optional<std::string> file;  // --token-file (a path)
  std::optional<std::string> env;   // TPMESH_TOKEN
};

// The token from the one source given, or nullopt when none is. Errors are
// kInvalidArgument reason "usage" (exit code 2): two or more sources (the
// message names them), an empty token, a token file that cannot be read or
// breaks the rules above (the message names the file). Error messages never
// contain the token.
[[nodiscard]] Result<std::optional<std::string>> ResolveToken(const TokenSources& sources);

}  // namespace tpmesh::client
