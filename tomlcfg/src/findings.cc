#include "tpmesh/tomlcfg/findings.h"

namespace tpmesh::tomlcfg {

std::string RenderFindings(const std::vector<Finding>& findings, bool& failed) {
  std::string text;
  failed = false;
  for (const auto& f : findings) {
    failed = failed || f.level == Finding::Level::kFail;
    text += f.level == Finding::Level::kOk     ? "ok    "
            : f.level == Finding::Level::kWarn ? "WARN  "
                                               : "FAIL  ";
    text += f.what + ": " + f.detail + "\n";
  }
  return text;
}

}  // namespace tpmesh::tomlcfg
