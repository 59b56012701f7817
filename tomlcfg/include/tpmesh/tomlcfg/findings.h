// What `config check` found (tpmesh-authority and tpmesh-client): one line
// per check, for the operator.
#pragma once

#include <string>
#include <vector>

namespace tpmesh::tomlcfg {

struct Finding {
  enum class Level { kOk, kWarn, kFail };
  Level level = Level::kOk;
  std::string what;    // "state directory", "TPM", ...
  std::string detail;  // names the file or setting
};

// "ok    what: detail" lines ("WARN  ", "FAIL  "); `failed` tells whether
// any finding failed.
std::string RenderFindings(const std::vector<Finding>& findings, bool& failed);

}  // namespace tpmesh::tomlcfg
