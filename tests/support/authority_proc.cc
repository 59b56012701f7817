#include "tests/support/authority_proc.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "tpmesh/net/http.h"

extern char** environ;

namespace tpmesh::testing {
namespace {

namespace fs = std::filesystem;

Error FixtureError(std::string message) {
  return MakeError(Code::kInternal, "authority_fixture", std::move(message));
}

std::string Program(const std::string& name) {
  const std::string bin = BinDir();
  return bin.empty() ? name : bin + "/" + name;
}

Result<std::string> ReadText(const std::string& path) {
  TPMESH_ASSIGN_OR_RETURN(Bytes b, ReadFileBytes(path));
  return std::string(b.begin(), b.end());
}

std::string Tail(const std::string& s, size_t max = 3000) {
  return s.size() > max ? s.substr(s.size() - max) : s;
}

// The value after `label` on its line, trimmed.
std::string LineValue(const std::string& text, const std::string& label) {
  size_t at = text.find(label);
  if (at == std::string::npos) return "";
  at += label.size();
  size_t end = text.find('\n', at);
  std::string v = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
  while (!v.empty() && (v.back() == ' ' || v.back() == '\r')) v.pop_back();
  return v;
}

// Removes temp dirs of earlier test processes that died before their
// destructors ran (each dir records its owner's pid in owner.pid).
void RemoveStaleDirs(const std::string& prefix) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/tmp", ec)) {
    if (entry.path().filename().string().rfind(prefix, 0) != 0) continue;
    auto pid_text = ReadText(entry.path().string() + "/owner.pid");
    if (!pid_text.ok()) continue;
    const long pid = std::strtol(pid_text->c_str(), nullptr, 10);
    if (pid > 0 && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
      std::error_code rm_ec;
      fs::remove_all(entry.path(), rm_ec);
    }
  }
}

// Reaps `pid`, waiting at most `timeout`. Returns the exit status as
// RunCommand reports it, or nullopt on timeout.
std::optional<int> WaitFor(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

std::string BinDir() {
  const char* d = std::getenv("TPMESH_BIN_DIR");
  return d ? d : "";
}

Result<std::unique_ptr<ScopedTempDir>> ScopedTempDir::Make(const std::string& prefix) {
  std::unique_ptr<ScopedTempDir> d(new ScopedTempDir());
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr)
    return FixtureError(std::string("mkdtemp: ") + strerror(errno));
  d->path_ = tmpl;
  const std::string pid_text = std::to_string(getpid());
  TPMESH_RETURN_IF_ERROR(WriteFileBytes(d->path_ + "/owner.pid", AsView(pid_text)));
  RemoveStaleDirs(prefix);
  return d;
}

ScopedTempDir::~ScopedTempDir() {
  std::error_code ec;
  if (!path_.empty()) fs::remove_all(path_, ec);
}

Result<std::unique_ptr<AuthorityProcess>> AuthorityProcess::Start(AuthorityOptions options) {
  std::unique_ptr<AuthorityProcess> a(new AuthorityProcess());
  a->options_ = std::move(options);
  TPMESH_ASSIGN_OR_RETURN(a->temp_, ScopedTempDir::Make("tpmesh-authority."));
  a->dir_ = a->temp_->path();
  a->state_dir_ = a->dir_ + "/state";
  a->trust_dir_ = a->dir_ + "/ek-trust";
  a->log_path_ = a->dir_ + "/authority.log";

  CommandResult init =
      RunCommand({Program("tpmesh-authority"), "init", "--state-dir", a->state_dir_});
  if (init.exit_code != 0) {
    return FixtureError("tpmesh-authority init exited " + std::to_string(init.exit_code) +
                        " (TPMESH_BIN_DIR=" + BinDir() + "):\n" + init.output);
  }
  a->fingerprint_ = LineValue(init.output, "CA fingerprint:");
  if (a->fingerprint_.size() < 64) {
    return FixtureError("no CA fingerprint in the init output:\n" + init.output);
  }

  std::error_code ec;
  fs::create_directories(a->trust_dir_, ec);
  if (ec) return FixtureError("creating " + a->trust_dir_ + ": " + ec.message());
  for (size_t i = 0; i < a->options_.ek_ca_pems.size(); ++i) {
    const std::string to = a->trust_dir_ + "/ca-" + std::to_string(i) + ".pem";
    fs::copy_file(a->options_.ek_ca_pems[i], to, ec);
    if (ec) return FixtureError("copying " + a->options_.ek_ca_pems[i] + ": " + ec.message());
  }
  TPMESH_RETURN_IF_ERROR(a->Serve());
  return a;
}

AuthorityProcess::~AuthorityProcess() { (void)Kill9(); }  // then temp_ removes the dir

std::string AuthorityProcess::log() const {
  auto t = ReadText(log_path_);
  return t.ok() ? *t : "";
}

Status AuthorityProcess::Serve() {
  std::vector<std::string> args = {Program("tpmesh-authority"),
                                   "serve",
                                   "--state-dir",
                                   state_dir_,
                                   "--listen",
                                   "[::1]:0",
                                   "--ek-trust-dir",
                                   trust_dir_};
  if (options_.dev_mode) args.push_back("--dev");
  if (options_.approval_queue) args.push_back("--approval-queue");
  // Everything the child touches is prepared before fork.
  std::vector<char*> argp;
  for (auto& s : args) argp.push_back(s.data());
  argp.push_back(nullptr);
  const size_t log_start = log().size();  // earlier runs' output stays in the log
  const int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  const int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (log_fd < 0 || devnull < 0) {
    if (log_fd >= 0) close(log_fd);
    if (devnull >= 0) close(devnull);
    return FixtureError("cannot open " + log_path_ + " or /dev/null: " + strerror(errno));
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    execve(argp[0], argp.data(), environ);
    _exit(127);
  }
  close(log_fd);
  close(devnull);
  if (pid < 0) return FixtureError(std::string("fork: ") + strerror(errno));
  setpgid(pid, pid);  // also here: no window where a kill(-pid) misses it
  pid_ = pid;

  // Wait for "tpmesh-authority: serving mesh <prefix> on <port> (...".
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = log().substr(log_start);
    const size_t serving = out.find("serving mesh ");
    if (serving != std::string::npos) {
      const size_t on = out.find(" on ", serving);
      if (on != std::string::npos && out.find('\n', on) != std::string::npos) {
        port_ = std::atoi(out.c_str() + on + 4);
        if (port_ > 0) return OkStatus();
        return FixtureError("cannot parse the port from:\n" + out);
      }
    }
    if (auto code = WaitFor(pid_, std::chrono::milliseconds(0))) {
      pid_ = -1;
      return FixtureError("tpmesh-authority serve exited " + std::to_string(*code) +
                          " before serving:\n" + Tail(out));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  (void)Kill9();
  return FixtureError("tpmesh-authority serve did not report its port within 20 s:\n" +
                      Tail(log().substr(log_start)));
}

Status AuthorityProcess::Kill9() {
  if (pid_ <= 0) return OkStatus();
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);
  auto code = WaitFor(pid_, std::chrono::seconds(10));
  pid_ = -1;
  if (!code) return FixtureError("the authority did not die on SIGKILL");
  return OkStatus();
}

Status AuthorityProcess::Stop() {
  if (pid_ <= 0) return OkStatus();
  kill(pid_, SIGTERM);
  auto code = WaitFor(pid_, std::chrono::seconds(10));
  if (!code) {
    (void)Kill9();
    return FixtureError("the authority did not exit within 10 s of SIGTERM:\n" + Tail(log()));
  }
  pid_ = -1;
  if (*code != 0) {
    return FixtureError("the authority exited " + std::to_string(*code) + " on SIGTERM:\n" +
                        Tail(log()));
  }
  return OkStatus();
}

Status AuthorityProcess::Restart() {
  TPMESH_RETURN_IF_ERROR(Kill9());
  port_ = 0;
  return Serve();
}

Result<AdminResponse> AuthorityProcess::Admin(const std::string& method, const std::string& path,
                                              const std::string& body) const {
  if (pid_ <= 0) return FixtureError("the authority is not running");
  TPMESH_ASSIGN_OR_RETURN(std::string ca, ReadText(state_dir_ + "/ca.crt"));
  TPMESH_ASSIGN_OR_RETURN(std::string cert, ReadText(state_dir_ + "/admin.crt"));
  TPMESH_ASSIGN_OR_RETURN(std::string key, ReadText(state_dir_ + "/admin.key"));
  TPMESH_ASSIGN_OR_RETURN(auto client,
                          net::MakeClient(net::ClientOptions{url(), ca, cert, key, 30}));
  Result<net::ClientResponse> r = method == "GET"    ? client->Get(path)
                                  : method == "POST" ? client->Post(path, body)
                                                     : client->Delete(path);
  if (!r.ok()) return r.take_error();
  AdminResponse out;
  out.status = r->status;
  out.raw = r->body;
  out.body = nlohmann::json::parse(r->body, nullptr, /*allow_exceptions=*/false);
  if (out.body.is_discarded()) out.body = nullptr;
  return out;
}

Result<AdminResponse> AuthorityProcess::AdminGet(const std::string& path) const {
  return Admin("GET", path, "");
}

Result<AdminResponse> AuthorityProcess::AdminPost(const std::string& path,
                                                  const nlohmann::json& body) const {
  return Admin("POST", path, body.is_null() ? "" : body.dump());
}

Result<AdminResponse> AuthorityProcess::AdminDelete(const std::string& path) const {
  return Admin("DELETE", path, "");
}

Result<std::string> AuthorityProcess::CreateToken(int ttl_seconds,
                                                  const std::string& comment) const {
  TPMESH_ASSIGN_OR_RETURN(
      auto r, AdminPost("/v1/admin/tokens", {{"ttl_seconds", ttl_seconds}, {"comment", comment}}));
  if (r.status != 201 || !r.body.is_object() || !r.body.contains("token") ||
      !r.body["token"].is_string()) {
    return FixtureError("POST /v1/admin/tokens: HTTP " + std::to_string(r.status) + ": " + r.raw);
  }
  return r.body["token"].get<std::string>();
}

Result<nlohmann::json> AuthorityProcess::Nodes() const {
  TPMESH_ASSIGN_OR_RETURN(auto r, AdminGet("/v1/admin/nodes"));
  if (r.status != 200 || !r.body.is_object() || !r.body.contains("nodes")) {
    return FixtureError("GET /v1/admin/nodes: HTTP " + std::to_string(r.status) + ": " + r.raw);
  }
  return r.body;
}

CommandResult RunEnroll(const AuthorityProcess& authority, const EnrollArgs& args) {
  std::vector<std::string> argv = {Program("tpmesh-client"),
                                   "enroll",
                                   "--authority",
                                   authority.url(),
                                   "--ca-fingerprint",
                                   authority.fingerprint(),
                                   "--hostname",
                                   args.hostname,
                                   "--tcti",
                                   args.tcti,
                                   "--state-dir",
                                   args.state_dir};
  if (args.token) {
    argv.push_back("--token");
    argv.push_back(*args.token);
  }
  if (args.force) argv.push_back("--force");
  for (const auto& e : args.endpoints) {
    argv.push_back("--endpoint");
    argv.push_back(e);
  }
  return RunCommand(argv);
}

}  // namespace tpmesh::testing
