#include "tests/support/swtpm.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include "tpmesh/attest/tpm.h"

extern char** environ;

namespace tpmesh::testing {
namespace {

namespace fs = std::filesystem;
using Env = std::vector<std::pair<std::string, std::string>>;

constexpr uint32_t kNvIntermediate = 0x01c00100;

Error FixtureError(std::string message) {
  return MakeError(Code::kInternal, "swtpm_fixture", std::move(message));
}

std::string FindInPath(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/" + name;
    if (end > start && access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return name;
}

// SIGTERM handler of a supervisor: kill its whole process group (itself,
// the command and anything the command started).
void KillOwnGroup(int) { kill(0, SIGKILL); }

// Runs in a forked child. Execs argv, or with `supervise` becomes a
// supervisor: leader of a new process group, forks the command into it,
// waits and exits with its status. If this process dies, the supervisor gets
// SIGTERM (PR_SET_PDEATHSIG) and kills the group, so grandchildren (the swtpm
// that swtpm_setup starts) die too. Only async-signal-safe calls here.
[[noreturn]] void ChildMain(const char* path, char* const* argp, char* const* envp, int devnull,
                            int out_fd, pid_t parent, bool supervise) {
  prctl(PR_SET_PDEATHSIG, supervise ? SIGTERM : SIGKILL);
  if (getppid() != parent) _exit(127);
  if (supervise) {
    setpgid(0, 0);
    struct sigaction sa {};
    sa.sa_handler = KillOwnGroup;
    sigaction(SIGTERM, &sa, nullptr);
    pid_t pid = fork();
    if (pid < 0) _exit(127);
    if (pid > 0) {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) _exit(127);
      }
      _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }
    sa.sa_handler = SIG_DFL;
    sigaction(SIGTERM, &sa, nullptr);
  }
  dup2(devnull, 0);
  dup2(out_fd, 1);
  dup2(out_fd, 2);
  // Descriptors other threads opened without O_CLOEXEC (tss2's TPM sockets)
  // must not leak into swtpm: it serves one connection at a time, so an
  // inherited socket would block every later client.
  close_range(3, ~0U, 0);
  execve(path, argp, envp);
  _exit(127);
}

// Forks and execs argv with stdin from /dev/null and stdout+stderr on
// `out_fd`; the child dies with this thread (see ChildMain). Everything the
// child touches is prepared before fork.
pid_t Spawn(const std::vector<std::string>& argv, const Env& env, int out_fd, bool supervise) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv(*e);
    size_t eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) merged[k] = v;
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  const std::string path = FindInPath(args.at(0));
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);

  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) return -1;
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0)
    ChildMain(path.c_str(), argp.data(), envp.data(), devnull, out_fd, parent, supervise);
  close(devnull);
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// A TCP port on 127.0.0.1 that is free now, with port+1 free too.
int FreePortPair() {
  for (int attempt = 0; attempt < 50; ++attempt) {
    int a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    int port = 0;
    if (a >= 0 && bind(a, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
        getsockname(a, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port = ntohs(addr.sin_port);
    }
    bool ok = false;
    if (port > 0 && port < 65535) {
      int b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      addr.sin_port = htons(static_cast<uint16_t>(port + 1));
      ok = b >= 0 && bind(b, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      if (b >= 0) close(b);
    }
    if (a >= 0) close(a);
    if (ok) return port;
  }
  return 0;
}

bool Accepts(int port) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(s);
  return ok;
}

std::string Tail(const std::string& path, size_t max = 2000) {
  auto data = ReadFileBytes(path);
  if (!data.ok()) return "";
  std::string s(data->begin(), data->end());
  return s.size() > max ? s.substr(s.size() - max) : s;
}

Status WriteText(const std::string& path, const std::string& text) {
  return WriteFileBytes(path, AsView(text));
}

// Removes temp dirs of earlier test processes that were killed before their
// destructors ran (each dir records its owner's pid in owner.pid).
void RemoveStaleDirs() {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/tmp", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("tpmesh-swtpm.", 0) != 0) continue;
    auto pid_text = ReadFileBytes(entry.path().string() + "/owner.pid");
    if (!pid_text.ok()) continue;
    const long pid =
        std::strtol(std::string(pid_text->begin(), pid_text->end()).c_str(), nullptr, 10);
    if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code rm_ec;
      fs::remove_all(entry.path(), rm_ec);
    }
  }
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv, const Env& env) {
  CommandResult result;
  if (argv.empty()) return result;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return result;
  pid_t pid = Spawn(argv, env, fds[1], /*supervise=*/true);
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return result;
  }
  char buf[4096];
  for (;;) {
    ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n > 0) {
      result.output.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(fds[0]);
  result.exit_code = WaitExit(pid);
  return result;
}

Result<Bytes> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FixtureError("cannot open " + path);
  Bytes data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return FixtureError("cannot read " + path);
  return data;
}

Status WriteFileBytes(const std::string& path, ByteView data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return FixtureError("cannot write " + path);
  return OkStatus();
}

Result<std::unique_ptr<Swtpm>> Swtpm::Start(Options options) {
  std::unique_ptr<Swtpm> tpm(new Swtpm());
  tpm->options_ = std::move(options);
  char tmpl[] = "/tmp/tpmesh-swtpm.XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return FixtureError(std::string("mkdtemp: ") + strerror(errno));
  tpm->dir_ = tmpl;
  TPMESH_RETURN_IF_ERROR(WriteText(tpm->dir_ + "/owner.pid", std::to_string(getpid())));
  RemoveStaleDirs();
  tpm->state_dir_ = tpm->dir_ + "/state";
  tpm->own_ca_ = tpm->options_.ca_dir.empty();
  tpm->ca_dir_ = tpm->own_ca_ ? tpm->dir_ + "/ca" : tpm->options_.ca_dir;
  std::error_code ec;
  fs::create_directories(tpm->state_dir_, ec);
  if (!ec) fs::create_directories(tpm->ca_dir_, ec);
  if (ec) return FixtureError("creating " + tpm->dir_ + " subdirs: " + ec.message());
  TPMESH_RETURN_IF_ERROR(tpm->Manufacture());
  TPMESH_RETURN_IF_ERROR(tpm->Launch());
  if (tpm->options_.provision_ecc_p256_ek_cert) TPMESH_RETURN_IF_ERROR(tpm->ProvisionEccCert());
  if (tpm->options_.provision_intermediate_nv) TPMESH_RETURN_IF_ERROR(tpm->ProvisionIntermediate());
  return tpm;
}

Swtpm::~Swtpm() {
  (void)Stop();
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string Swtpm::tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }
std::string Swtpm::ca_root_pem() const { return ca_dir_ + "/swtpm-localca-rootca-cert.pem"; }
std::string Swtpm::ca_intermediate_pem() const { return ca_dir_ + "/issuercert.pem"; }
std::string Swtpm::log_path() const { return dir_ + "/swtpm.log"; }
Env Swtpm::ToolsEnv() const { return {{"TPM2TOOLS_TCTI", tcti()}}; }

Status Swtpm::Manufacture() {
  ca_conf_ = ca_dir_ + "/swtpm-localca.conf";
  if (!fs::exists(ca_conf_)) {
    TPMESH_RETURN_IF_ERROR(
        WriteText(ca_conf_, "statedir = " + ca_dir_ + "\nsigningkey = " + ca_dir_ +
                                "/signkey.pem\nissuercert = " + ca_dir_ +
                                "/issuercert.pem\ncertserial = " + ca_dir_ + "/certserial\n"));
  }
  setup_conf_ = dir_ + "/swtpm_setup.conf";
  TPMESH_RETURN_IF_ERROR(WriteText(setup_conf_,
                                   "create_certs_tool = /usr/bin/swtpm_localca\n"
                                   "create_certs_tool_config = " +
                                       ca_conf_ +
                                       "\n"
                                       "create_certs_tool_options = /etc/swtpm-localca.options\n"
                                       "active_pcr_banks = sha256\n"));
  CommandResult r = RunCommand(
      {"swtpm_setup", "--tpm2", "--tpmstate", state_dir_, "--create-ek-cert",
       "--create-platform-cert", "--lock-nvram", "--pcr-banks", "sha256", "--config", setup_conf_},
      {{"TMPDIR", dir_}});
  if (r.exit_code != 0) {
    return FixtureError("swtpm_setup exited " + std::to_string(r.exit_code) + ":\n" + r.output);
  }
  return OkStatus();
}

Status Swtpm::Launch() {
  const int log_fd = open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return FixtureError("cannot open " + log_path() + ": " + strerror(errno));
  int port = port_;  // on Restart, try the old port first
  for (int attempt = 0; attempt < 10; ++attempt) {
    if (port == 0) port = FreePortPair();
    if (port == 0) break;
    const std::string p = std::to_string(port), c = std::to_string(port + 1);
    pid_t pid = Spawn(
        {"swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + state_dir_, "--server",
         "type=tcp,port=" + p + ",bindaddr=127.0.0.1", "--ctrl",
         "type=tcp,port=" + c + ",bindaddr=127.0.0.1", "--flags", "not-need-init,startup-clear"},
        {}, log_fd, /*supervise=*/false);
    if (pid < 0) break;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;  // e.g. the port was taken in the meantime: try others
        break;
      }
      if (Accepts(port) && Accepts(port + 1)) {
        close(log_fd);
        pid_ = pid;
        port_ = port;
        return OkStatus();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!exited) {
      kill(pid, SIGKILL);
      WaitExit(pid);
    }
    port = 0;
  }
  close(log_fd);
  return FixtureError("swtpm did not start; log " + log_path() + ":\n" + Tail(log_path()));
}

Status Swtpm::Stop() {
  if (pid_ <= 0) return OkStatus();
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  int status = 0;
  pid_t done = 0;
  while ((done = waitpid(pid_, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (done == 0) {
    kill(pid_, SIGKILL);
    WaitExit(pid_);
  }
  pid_ = -1;
  return OkStatus();
}

Status Swtpm::Restart() {
  TPMESH_RETURN_IF_ERROR(Stop());
  return Launch();
}

Status Swtpm::WriteNvIndex(uint32_t index, ByteView data, const std::string& attributes) {
  char idx[16];
  std::snprintf(idx, sizeof(idx), "0x%08x", index);
  const std::string file = dir_ + "/nv-" + idx + ".bin";
  TPMESH_RETURN_IF_ERROR(WriteFileBytes(file, data));
  CommandResult r = RunCommand(
      {"tpm2_nvdefine", idx, "-C", "o", "-s", std::to_string(data.size()), "-a", attributes},
      ToolsEnv());
  if (r.exit_code != 0) return FixtureError(std::string("tpm2_nvdefine ") + idx + ":\n" + r.output);
  r = RunCommand({"tpm2_nvwrite", idx, "-C", "o", "-i", file}, ToolsEnv());
  if (r.exit_code != 0) return FixtureError(std::string("tpm2_nvwrite ") + idx + ":\n" + r.output);
  return OkStatus();
}

Status Swtpm::ProvisionEccCert() {
  Bytes ek_public;
  {
    // Closed before tpm2-tools runs: swtpm serves one connection at a time.
    auto node = attest::OpenTpm(tcti());
    if (!node.ok()) return FixtureError("OpenTpm: " + node.error().ToString());
    auto ek = (*node)->ReadEk(attest::KeyAlg::kEccP256);
    if (!ek.ok()) return FixtureError("ReadEk(ecc): " + ek.error().ToString());
    ek_public = ek->ek_public;
  }
  TPM2B_PUBLIC pub{};
  size_t offset = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(ek_public.data(), ek_public.size(), &offset, &pub) !=
          TSS2_RC_SUCCESS ||
      pub.publicArea.type != TPM2_ALG_ECC) {
    return FixtureError("ECC EK public does not parse");
  }
  const TPMS_ECC_POINT& pt = pub.publicArea.unique.ecc;
  const std::string out_dir = dir_ + "/ek-p256";
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  CommandResult r = RunCommand({"swtpm_localca",
                                "--type",
                                "ek",
                                "--ek",
                                "x=" + HexEncode(ByteView(pt.x.buffer, pt.x.size)) + ",y=" +
                                    HexEncode(ByteView(pt.y.buffer, pt.y.size)) + ",id=secp256r1",
                                "--dir",
                                out_dir,
                                "--tpm-spec-family",
                                "2.0",
                                "--tpm-spec-level",
                                "0",
                                "--tpm-spec-revision",
                                "164",
                                "--tpm-manufacturer",
                                "id:00001014",
                                "--tpm-model",
                                "swtpm",
                                "--tpm-version",
                                "id:20191023",
                                "--tpm2",
                                "--configfile",
                                ca_conf_,
                                "--optsfile",
                                "/etc/swtpm-localca.options"});
  if (r.exit_code != 0) return FixtureError("swtpm_localca (P-256 EK cert):\n" + r.output);
  TPMESH_ASSIGN_OR_RETURN(Bytes cert, ReadFileBytes(out_dir + "/ek.cert"));  // DER
  return WriteNvIndex(attest::kNvEkCertEccP256, cert, options_.ecc_cert_nv_attributes);
}

Status Swtpm::ProvisionIntermediate() {
  FILE* f = std::fopen(ca_intermediate_pem().c_str(), "r");
  if (f == nullptr) return FixtureError("cannot open " + ca_intermediate_pem());
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) return FixtureError("cannot parse " + ca_intermediate_pem());
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  X509_free(cert);
  if (len <= 0) return FixtureError("cannot encode " + ca_intermediate_pem());
  Bytes bytes(der, der + len);
  OPENSSL_free(der);
  return WriteNvIndex(kNvIntermediate, bytes, "ownerwrite|ownerread|authread|no_da");
}

}  // namespace tpmesh::testing
