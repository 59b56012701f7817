// The daemon's loop (daemon.h): a round, backoff across authority URLs, and
// the public entry points.
#include "tpmesh/client/daemon.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "daemon_impl.h"
#include "tpmesh/client/enroll.h"
#include "tpmesh/client/node_state.h"

namespace tpmesh::client {
namespace internal {

Daemon::Daemon(const DaemonOptions& o, const DaemonEnv& env, LinkConfigurator& link,
               StopSignal& stop, LogFn log, std::unique_ptr<NodeFiles> files)
    : o_(o), env_(env), link_(link), stop_(stop), log_(std::move(log)), f_(std::move(files)) {
  LoadTrust();
  auto pub = WgPublicFromPrivate(f_->wg_private.view());
  if (pub.ok()) wg_public_ = std::move(pub).value();
}

Status Daemon::Start() {
  Log(o_.tcti.empty() ? std::string("certificate renewal is off (--tcti none): the daemon stops "
                                    "when the node certificate expires")
                      : "renews the node certificate at half life with the TPM at " + o_.tcti +
                            ", and enrolls again with it should the certificate expire");
  TPMESH_RETURN_IF_ERROR(SetUpLink());
  LoadSaved();  // fail-static: the last verified config, before any network
  return OkStatus();
}

std::optional<Status> Daemon::Step() {
  if (stop_.stopped()) return OkStatus();
  if (stop_.nudged()) need_ack_ = true;  // taken by the ack (PollOnce)
  const std::string url = f_->authority_urls[url_index_];
  MaybeRenew(url);
  Status st = PollOnce(url);
  if (st.ok()) {
    backoff_ = 1;
    return std::nullopt;
  }
  return OnPollFailure(st);
}

void Daemon::Log(const std::string& s) {
  if (log_) log_(s);
}

std::optional<Status> Daemon::OnPollFailure(const Status& st) {
  // A stop aborts the poll in flight: that is no failure to report.
  if (stop_.stopped()) return OkStatus();
  // So does a nudge: the host's addresses changed; report them at once.
  if (stop_.TakeNudge()) {
    Log("the host's addresses changed: reconnecting to report them");
    need_ack_ = true;
    return std::nullopt;
  }
  if (st.error().reason == "node_revoked") {
    Log("revoked by the authority: " + st.error().message + "; removing " + o_.ifname);
    (void)link_.TearDown(o_.ifname);
    std::error_code ec;
    std::filesystem::remove(o_.state_dir + "/mesh.json", ec);
    return st;
  }
  if (st.error().reason == "node_cert_expired") {
    auto end = OnExpired(st);
    if (end && end->error().reason == "node_revoked") return OnPollFailure(*end);
    return end;
  }
  if (IsCertRefusal(st.error()) && ReloadIdentity(st.error())) {
    backoff_ = 1;  // a new identity: reconnect at once
    url_index_ = 0;
    return std::nullopt;
  }
  Log("authority " + f_->authority_urls[url_index_] + ": " + st.error().ToString() +
      "; the mesh keeps its last config; retrying in ~" + std::to_string(backoff_) + " s");
  url_index_ = (url_index_ + 1) % f_->authority_urls.size();
  SleepJittered(backoff_);
  backoff_ = std::min(backoff_ * 2, o_.max_backoff_seconds);
  return std::nullopt;
}

// Between half and all of `seconds` plus 0.1 s, so that nodes cut off
// together do not come back in step.
void Daemon::SleepJittered(int seconds) {
  const int r = static_cast<int>(UniformBelow(env_.random, 1000));
  env_.time.SleepFor(std::chrono::milliseconds(seconds * 500 + seconds * r / 2 + 100),
                     stop_.wakeup());
}

}  // namespace internal

void StopSignal::Stop() {
  stopped_ = true;
  wakeup_.Notify();
  std::lock_guard<std::mutex> lock(mu_);
  if (abort_) abort_();
}

void StopSignal::Nudge() {
  nudged_ = true;
  wakeup_.Notify();
  std::lock_guard<std::mutex> lock(mu_);
  if (abort_) abort_();
}

void StopSignal::OnStop(std::function<void()> abort) {
  std::lock_guard<std::mutex> lock(mu_);
  abort_ = std::move(abort);
  if (stopped_) abort_();  // stopped before this call was in flight
}

DaemonEnv SystemDaemonEnv() {
  return DaemonEnv{
      SystemClock::Instance(),
      SystemMonotonicClock::Instance(),
      SystemRandom::Instance(),
      [](const net::ClientOptions& o) { return net::MakeClient(o); },
      [](const std::string& ifname, const std::string& dir) {
        return wg::OpenAnyDevice(ifname, dir);
      },
      [](const std::string& tcti) { return attest::OpenTpm(tcti); },
      [] { return SystemHostAddresses(); },
      [](std::function<void()> f) { return WatchAddresses(std::move(f)); },
  };
}

NodeDaemon::NodeDaemon(std::unique_ptr<internal::Daemon> d) : d_(std::move(d)) {}
NodeDaemon::~NodeDaemon() = default;

Result<std::unique_ptr<NodeDaemon>> NodeDaemon::Create(const DaemonOptions& options,
                                                       const DaemonEnv& env, LinkConfigurator& link,
                                                       StopSignal& stop, const LogFn& log) {
  if (sodium_init() < 0)
    return MakeError(Code::kInternal, "sodium_init", "libsodium failed to initialize");
  TPMESH_ASSIGN_OR_RETURN(auto files,
                          LoadNodeFiles(options.state_dir, options.extra_authority_urls));
  auto d = std::make_unique<internal::Daemon>(options, env, link, stop, log, std::move(files));
  return std::unique_ptr<NodeDaemon>(new NodeDaemon(std::move(d)));
}

Status NodeDaemon::Start() { return d_->Start(); }
std::optional<Status> NodeDaemon::Step() { return d_->Step(); }

Status RunDaemon(const DaemonOptions& options, const DaemonEnv& env, LinkConfigurator& link,
                 StopSignal& stop, const LogFn& log) {
  TPMESH_ASSIGN_OR_RETURN(auto daemon, NodeDaemon::Create(options, env, link, stop, log));
  TPMESH_RETURN_IF_ERROR(daemon->Start());
  // Derived endpoints follow the host at once, not at the next report.
  std::unique_ptr<AddressWatch> watch;
  if (options.endpoints.empty() && env.watch_addresses) {
    auto w = env.watch_addresses([&stop] { stop.Nudge(); });
    if (w.ok()) {
      watch = std::move(w).value();
    } else if (log) {
      log("not watching the host's addresses (" + w.error().ToString() +
          "): a change is reported with the next poll");
    }
  }
  for (;;) {
    if (auto done = daemon->Step()) return *done;
  }
}

Status RunDaemon(const DaemonOptions& options, LinkConfigurator& link, StopSignal& stop,
                 const LogFn& log) {
  return RunDaemon(options, SystemDaemonEnv(), link, stop, log);
}

}  // namespace tpmesh::client
