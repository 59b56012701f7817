// The exit codes of tpmesh-client, defined here and nowhere else: main.cc
// returns only these, `tpmesh-client --help` prints ExitCodeHelp(), and
// docs/operations.md ("Exit codes") lists the same table. Scripts and
// service managers may rely on them; a new code is added at the end, an
// existing one never changes meaning.
#pragma once

#include <string>

#include "tpmesh/common/result.h"

namespace tpmesh::client {

enum class ExitCode : int {
  kOk = 0,
  kError = 1,            // anything not listed below (the message says what)
  kUsage = 2,            // bad command line, e.g. two token sources
  kPendingApproval = 3,  // enroll: the node waits for an admin's approval
  kRevoked = 4,          // the authority revoked this node (run: interface torn down)
  kUnreachable = 5,      // no answer: refused, dropped connection, TLS failure, timeout
  kNotEnrolled = 6,      // no enrollment in the state directory, or its files are corrupt
  kCertInvalid = 7,      // the node certificate expired or was superseded: enroll --force
};

inline int ToInt(ExitCode c) { return static_cast<int>(c); }

// The exit code for a command that failed with `e`, by its reason.
ExitCode ExitCodeFor(const Error& e);

// The table above for --help ("Exit codes:" and one line per code).
std::string ExitCodeHelp();

}  // namespace tpmesh::client
