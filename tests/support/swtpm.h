// A real software TPM (swtpm) for integration tests, manufactured like a
// vendor TPM: EK certificates signed by a local CA private to the test.
//
//   auto tpm = tpmesh::testing::Swtpm::Start();
//   ASSERT_TRUE(tpm.ok()) << tpm.error().ToString();
//   auto node = tpmesh::attest::OpenTpm((*tpm)->tcti());
//
// Start() makes a temp dir under /tmp, a swtpm-localca CA (in that dir, or in
// Options::ca_dir when several instances must share one CA), runs
// swtpm_setup (RSA-2048 EK cert at 0x01c00002, ECC P-384 EK cert at
// 0x01c00016, platform cert, NV locked, sha256 PCR bank only), starts
// `swtpm socket` on free TCP ports and, by default, provisions an ECC P-256
// EK certificate at 0x01c0000a for the L-2 EK as the manufacturer would.
//
// The destructor kills the swtpm child (SIGTERM, then SIGKILL), reaps it and
// removes the temp dir (never a caller-given ca_dir). The child also gets
// PR_SET_PDEATHSIG so it dies if the *thread* that started it exits (Linux
// ties the death signal to the creating thread): start instances from a
// thread that lives as long as they do. Temp dirs left by crashed test
// processes are removed by the next Start(). Not thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tpmesh/common/bytes.h"
#include "tpmesh/common/result.h"

namespace tpmesh::testing {

struct CommandResult {
  int exit_code = -1;  // the exit status, 128 + signal number if killed, -1 if not started
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv (argv[0] looked up in PATH) to completion with `env` added to
// (or overriding) this process's environment, stdin from /dev/null. The
// command runs in its own process group under a small supervisor that kills
// the group if the calling thread dies (nothing outlives a crashed test).
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::vector<std::pair<std::string, std::string>>& env = {});

// Whole-file helpers for tests.
[[nodiscard]] Result<Bytes> ReadFileBytes(const std::string& path);
[[nodiscard]] Status WriteFileBytes(const std::string& path, ByteView data);

class Swtpm {
 public:
  struct Options {
    // CA state dir shared by instances (created if missing, kept afterwards;
    // the caller owns it). Empty: a CA private to this instance. Two
    // different dirs give two unrelated CAs (e.g. an untrusted vendor).
    std::string ca_dir;
    // Provision an ECC P-256 EK certificate at 0x01c0000a.
    bool provision_ecc_p256_ek_cert = true;
    // TPMA_NV attributes (tpm2_nvdefine -a syntax) of that index. Without
    // "authread" a reader must fall back to owner auth.
    std::string ecc_cert_nv_attributes = "ownerwrite|ownerread|authread|authwrite|no_da";
    // Also write the CA's intermediate (issuercert.pem, as DER) to NV
    // 0x01c00100, where the EK profile keeps EK chain certificates.
    bool provision_intermediate_nv = false;
  };

  // Manufactures and starts a swtpm. Takes ~1.5 s.
  [[nodiscard]] static Result<std::unique_ptr<Swtpm>> Start(Options options);
  [[nodiscard]] static Result<std::unique_ptr<Swtpm>> Start() { return Start(Options()); }

  ~Swtpm();
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;

  // tctildr string: "swtpm:host=127.0.0.1,port=P".
  std::string tcti() const;
  int port() const { return port_; }  // TPM command port
  int ctrl_port() const { return port_ + 1; }
  bool running() const { return pid_ > 0; }

  const std::string& dir() const { return dir_; }  // the temp dir; tests may put files here
  const std::string& state_dir() const { return state_dir_; }
  const std::string& ca_dir() const { return ca_dir_; }
  std::string ca_root_pem() const;          // <ca_dir>/swtpm-localca-rootca-cert.pem
  std::string ca_intermediate_pem() const;  // <ca_dir>/issuercert.pem
  std::string log_path() const;             // swtpm's stdout/stderr
  // ["TPM2TOOLS_TCTI", tcti()], for RunCommand with tpm2-tools.
  std::vector<std::pair<std::string, std::string>> ToolsEnv() const;

  // Stops the swtpm process (TPM state stays on disk). Idempotent.
  Status Stop();
  // Stop + start again on the same state (a TPM reboot: transient objects
  // and sessions are gone, PCRs reset, NV and hierarchy seeds kept). The
  // port may change if the old one cannot be reused; use tcti() afterwards.
  // A Tpm opened before keeps a dead connection (its calls fail with
  // kUnavailable; the TCTI may raise SIGPIPE): reopen it.
  Status Restart();

  // Defines NV `index` in the owner hierarchy (size of `data`, `attributes`
  // in tpm2_nvdefine -a syntax) and writes `data` to it, with tpm2-tools.
  // swtpm serves one connection at a time: close any Tpm opened on tcti()
  // first, or this blocks.
  [[nodiscard]] Status WriteNvIndex(
      uint32_t index, ByteView data,
      const std::string& attributes = "ownerwrite|ownerread|authread|no_da");

 private:
  Swtpm() = default;
  Status Manufacture();
  Status Launch();
  Status ProvisionEccCert();
  Status ProvisionIntermediate();

  Options options_;
  bool own_ca_ = true;
  std::string dir_, state_dir_, ca_dir_, ca_conf_, setup_conf_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace tpmesh::testing
