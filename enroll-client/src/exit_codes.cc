#include "tpmesh/client/exit_codes.h"

#include <string_view>

namespace tpmesh::client {
namespace {

struct Entry {
  ExitCode code;
  const char* meaning;
};

constexpr Entry kTable[] = {
    {ExitCode::kOk, "success"},
    {ExitCode::kError, "error (the message on stderr says what)"},
    {ExitCode::kUsage, "usage error (bad option, two token sources)"},
    {ExitCode::kPendingApproval,
     "enroll: waiting for an admin's approval ('tpmeshctl nodes approve')"},
    {ExitCode::kRevoked, "this node is revoked ('run' removed its interface)"},
    {ExitCode::kUnreachable,
     "authority unreachable (refused, dropped, TLS failure, timeout); retry later"},
    {ExitCode::kNotEnrolled, "not enrolled, or the state directory is corrupt ('enroll')"},
    {ExitCode::kCertInvalid,
     "node certificate expired and not replaced (renewal off, or enrolling again refused), or "
     "superseded ('renew', 'enroll --force')"},
};

}  // namespace

ExitCode ExitCodeFor(const Error& e) {
  const std::string_view r = e.reason;
  if (r == "pending_approval") return ExitCode::kPendingApproval;
  if (r == "node_revoked") return ExitCode::kRevoked;
  if (r == "authority_unreachable") return ExitCode::kUnreachable;
  if (r == "not_enrolled" || r == "state_corrupt") return ExitCode::kNotEnrolled;
  if (r == "node_cert_expired" || r == "node_cert_superseded") return ExitCode::kCertInvalid;
  if (r == "usage") return ExitCode::kUsage;
  return ExitCode::kError;
}

std::string ExitCodeHelp() {
  std::string out = "Exit codes:\n";
  for (const Entry& e : kTable)
    out += "  " + std::to_string(ToInt(e.code)) + "  " + e.meaning + "\n";
  return out;
}

}  // namespace tpmesh::client
