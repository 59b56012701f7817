// A real `tpmesh-authority` process for integration tests, and a helper that
// runs `tpmesh-client enroll` against it.
//
//   auto ca = ...;  // a Swtpm::Options::ca_dir shared by the test's swtpms
//   auto auth = AuthorityProcess::Start({.ek_ca_pems = {tpm->ca_root_pem(),
//                                                       tpm->ca_intermediate_pem()}});
//   ASSERT_TRUE(auth.ok()) << auth.error().ToString();
//   auto token = (*auth)->CreateToken();
//   auto r = RunEnroll(**auth, {.hostname = "n1", .tcti = tpm->tcti(), ...});
//
// Start() makes a temp dir under /tmp, runs `tpmesh-authority init` in
// <dir>/state (parsing the "CA fingerprint:" line), copies the given EK CA
// PEMs into <dir>/ek-trust, and starts `tpmesh-authority serve --listen
// [::1]:0 --dev` (no --dev when dev_mode is off) as a child in its own
// process group (stdout+stderr to <dir>/authority.log). It returns once
// the child printed the port it serves on. Programs are found in $TPMESH_BIN_DIR (ctest sets it to
// build/bin).
//
// The destructor SIGKILLs the process group, reaps the child and removes the
// temp dir, so nothing is left behind when an assertion fails. The child also
// gets PR_SET_PDEATHSIG (it dies with the thread that started it: call
// Start/Restart from the test's main thread). Temp dirs of crashed test
// processes are removed by the next Start(). Not thread-safe, except that the
// Admin* methods may be called from several threads while the server runs.
#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/swtpm.h"
#include "tpmesh/common/result.h"

namespace tpmesh::testing {

// $TPMESH_BIN_DIR, or "" when unset.
std::string BinDir();

// A temp dir /tmp/<prefix>XXXXXX, removed (recursively) by the destructor.
// It records the creating process's pid in owner.pid; Make() removes dirs
// with the same prefix whose owner died (a crashed test process).
class ScopedTempDir {
 public:
  [[nodiscard]] static Result<std::unique_ptr<ScopedTempDir>> Make(const std::string& prefix);
  ~ScopedTempDir();
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  ScopedTempDir() = default;
  std::string path_;
};

struct AuthorityOptions {
  std::vector<std::string> ek_ca_pems;  // files copied into the EK trust dir
  bool approval_queue = false;          // --approval-queue
  bool dev_mode = true;                 // --dev (swtpm EK certificates are software TPMs)
};

struct AdminResponse {
  int status = 0;
  nlohmann::json body;  // parsed body (null if it was not JSON)
  std::string raw;
};

class AuthorityProcess {
 public:
  [[nodiscard]] static Result<std::unique_ptr<AuthorityProcess>> Start(AuthorityOptions options);
  ~AuthorityProcess();
  AuthorityProcess(const AuthorityProcess&) = delete;
  AuthorityProcess& operator=(const AuthorityProcess&) = delete;

  std::string url() const { return "https://[::1]:" + std::to_string(port_); }
  int port() const { return port_; }
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& dir() const { return dir_; }  // temp dir; tests may put files here
  const std::string& state_dir() const { return state_dir_; }
  const std::string& trust_dir() const { return trust_dir_; }
  std::string db_path() const { return state_dir_ + "/authority.db"; }
  std::string log() const;  // the serve process's output so far (all runs)
  bool running() const { return pid_ > 0; }
  int pid() const { return static_cast<int>(pid_); }  // the serve process; -1 when stopped

  // SIGKILL to the process group, then reap. Idempotent.
  Status Kill9();
  // SIGTERM; error unless the process exits with status 0 within 10 s
  // (then it is SIGKILLed). Idempotent.
  Status Stop();
  // Starts serve again on the same state dir (after Kill9/Stop; stops a
  // running one first with Kill9). The port usually changes: use url().
  Status Restart();
  // Whether the next Serve (Restart) passes --dev; the options' dev_mode at first.
  void set_dev_mode(bool on) { options_.dev_mode = on; }

  // Admin API over mutual TLS with the admin certificate. `body` is sent for
  // POST (null: empty body). Transport errors are errors; HTTP errors are not.
  [[nodiscard]] Result<AdminResponse> AdminGet(const std::string& path) const;
  [[nodiscard]] Result<AdminResponse> AdminPost(const std::string& path,
                                                const nlohmann::json& body = nullptr) const;
  [[nodiscard]] Result<AdminResponse> AdminDelete(const std::string& path) const;

  // POST /v1/admin/tokens; returns the token (error unless 201).
  [[nodiscard]] Result<std::string> CreateToken(int ttl_seconds = 3600,
                                                const std::string& comment = "test") const;
  // GET /v1/admin/nodes (error unless 200): {"generation", "mesh_prefix", "nodes"}.
  [[nodiscard]] Result<nlohmann::json> Nodes() const;

 private:
  AuthorityProcess() = default;
  Status Serve();
  Result<AdminResponse> Admin(const std::string& method, const std::string& path,
                              const std::string& body) const;

  AuthorityOptions options_;
  std::unique_ptr<ScopedTempDir> temp_;
  std::string dir_, state_dir_, trust_dir_, log_path_, fingerprint_;
  int port_ = 0;
  pid_t pid_ = -1;
};

struct EnrollArgs {
  std::string hostname;
  std::string tcti;
  std::string state_dir;
  std::optional<std::string> token;
  bool force = false;
  std::vector<std::string> endpoints;
};

// Runs `tpmesh-client enroll --authority <url> --ca-fingerprint <fp> ...`
// to completion (RunCommand: exit code and interleaved output). Thread-safe.
CommandResult RunEnroll(const AuthorityProcess& authority, const EnrollArgs& args);

}  // namespace tpmesh::testing
