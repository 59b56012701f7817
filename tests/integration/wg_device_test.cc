// The UAPI backend against real wireguard-go processes, each in its own
// network namespace: set/get/diff round trips checked against `wg show
// dump`, and a ping over a tunnel between two namespaces joined by a veth
// pair. Needs root and /dev/net/tun (skips otherwise).
//
// Every namespace / process is owned by an RAII guard: wireguard-go is
// stopped by deleting its interface (it exits on its own), then SIGTERM /
// SIGKILL if needed; it also gets PR_SET_PDEATHSIG. Namespaces are deleted
// in destructors, so failed assertions leave nothing behind. Interface names
// are random (the UAPI socket path /var/run/wireguard/<if>.sock is global).
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "tests/support/swtpm.h"  // RunCommand
#include "tpmesh/wg/device.h"
#include "tpmesh/wg/diff.h"

namespace tpmesh::wg {
namespace {

using tpmesh::testing::CommandResult;
using tpmesh::testing::RunCommand;

std::string RandomHex(size_t bytes) {
  Bytes b(bytes);
  randombytes_buf(b.data(), b.size());
  return HexEncode(b);
}

struct KeyPair {
  SecretBytes priv{kKeyLen};
  Bytes pub = Bytes(kKeyLen);
};

// wireguard-go clamps the private key it is given (get returns the clamped
// form), so generate clamped keys.
KeyPair NewKeyPair() {
  KeyPair k;
  randombytes_buf(k.priv.data(), kKeyLen);
  k.priv.data()[0] &= 248;
  k.priv.data()[31] = static_cast<uint8_t>((k.priv.data()[31] & 127) | 64);
  crypto_scalarmult_base(k.pub.data(), k.priv.data());
  return k;
}

std::string Sh(const std::vector<std::string>& argv) {
  CommandResult r = RunCommand(argv);
  std::string cmd;
  for (const auto& a : argv) cmd += a + " ";
  EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
  return r.output;
}

class Netns {
 public:
  Netns() : name_("tpmesh-t-" + RandomHex(4)) {
    CommandResult r = RunCommand({"ip", "netns", "add", name_});
    ok_ = r.exit_code == 0;
    EXPECT_TRUE(ok_) << r.output;
    if (ok_) RunCommand({"ip", "-n", name_, "link", "set", "lo", "up"});
  }
  ~Netns() {
    if (ok_) RunCommand({"ip", "netns", "del", name_});
  }
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }

 private:
  std::string name_;
  bool ok_ = false;
};

// `ip netns exec NS wireguard-go -f IF` as a child process.
class WireguardGo {
 public:
  WireguardGo(const Netns& ns, std::string ifname)
      : ns_(ns.name()), ifname_(std::move(ifname)), log_("/tmp/" + ns_ + "-" + ifname_ + ".log") {
    pid_ = fork();
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execlp("ip", "ip", "netns", "exec", ns_.c_str(), "wireguard-go", "-f", ifname_.c_str(),
             static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~WireguardGo() {
    if (pid_ > 0) {
      RunCommand({"ip", "-n", ns_, "link", "del", ifname_});  // wireguard-go exits on its own
      if (!WaitExit(std::chrono::seconds(5))) {
        kill(pid_, SIGTERM);
        if (!WaitExit(std::chrono::seconds(2))) {
          kill(pid_, SIGKILL);
          waitpid(pid_, nullptr, 0);
        }
      }
    }
    unlink(log_.c_str());
  }
  WireguardGo(const WireguardGo&) = delete;
  WireguardGo& operator=(const WireguardGo&) = delete;

  // Waits for the UAPI socket; false (with the log in `why`) if it never came.
  bool WaitReady(std::string& why) {
    const std::string sock = "/var/run/wireguard/" + ifname_ + ".sock";
    for (int i = 0; i < 100; ++i) {
      struct stat st {};
      if (stat(sock.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) return true;
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        why = "wireguard-go exited early: " + Log();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    why = "no socket " + sock + " after 5 s: " + Log();
    return false;
  }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  const std::string& ifname() const { return ifname_; }

 private:
  bool WaitExit(std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  std::string ns_, ifname_, log_;
  pid_t pid_ = -1;
};

class WgDeviceE2e : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, tun devices)";
    if (access("/dev/net/tun", R_OK | W_OK) != 0) GTEST_SKIP() << "no usable /dev/net/tun";
    if (RunCommand({"wireguard-go", "--version"}).exit_code != 0) {
      GTEST_SKIP() << "wireguard-go not installed";
    }
    ASSERT_EQ(sodium_init() >= 0, true);
  }
};

std::set<std::string> AsSet(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

const WgPeer* FindPeer(const WgDeviceConfig& c, const Bytes& key) {
  for (const WgPeer& p : c.peers) {
    if (p.public_key == key) return &p;
  }
  return nullptr;
}

std::vector<std::vector<std::string>> SplitDump(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    std::vector<std::string> cols;
    std::istringstream fields(line);
    std::string f;
    while (std::getline(fields, f, '\t')) cols.push_back(f);
    rows.push_back(cols);
  }
  return rows;
}

std::set<std::string> SplitComma(const std::string& s) {
  std::set<std::string> out;
  std::istringstream in(s);
  std::string f;
  while (std::getline(in, f, ',')) out.insert(f);
  return out;
}

TEST_F(WgDeviceE2e, SetGetDiffAgreesWithWgShow) {
  Netns ns;
  ASSERT_TRUE(ns.ok());
  WireguardGo wg(ns, "wgt" + RandomHex(4));
  std::string why;
  ASSERT_TRUE(wg.WaitReady(why)) << why;
  auto dev_or = OpenUapiDevice(wg.ifname());
  ASSERT_TRUE(dev_or.ok()) << dev_or.error().ToString();
  WgDevice& dev = **dev_or;
  EXPECT_EQ(dev.name(), wg.ifname());

  KeyPair self = NewKeyPair(), p1 = NewKeyPair(), p2 = NewKeyPair();
  WgDeviceConfig set;
  set.private_key = SecretBytes(self.priv.view());
  set.listen_port = 51820;
  WgPeer a;
  a.public_key = p1.pub;
  a.endpoint = "[fd00::99]:51820";
  a.allowed_ips = {"fd00:1::/64", "10.1.0.0/16"};
  WgPeer b;
  b.public_key = p2.pub;
  b.persistent_keepalive = 0;
  b.allowed_ips = {"fd00:2::2/128"};
  set.peers.push_back(std::move(a));
  set.peers.push_back(std::move(b));
  Status s = dev.Set(set);
  ASSERT_TRUE(s.ok()) << s.error().ToString();

  auto got = dev.Get();
  ASSERT_TRUE(got.ok()) << got.error().ToString();
  ASSERT_TRUE(got->private_key.has_value());
  EXPECT_TRUE(ConstantTimeEqual(got->private_key->view(), self.priv.view()));
  EXPECT_EQ(got->listen_port, 51820);
  ASSERT_EQ(got->peers.size(), 2u) << ToString(*got);
  const WgPeer* g1 = FindPeer(*got, p1.pub);
  const WgPeer* g2 = FindPeer(*got, p2.pub);
  ASSERT_TRUE(g1 && g2) << ToString(*got);
  EXPECT_EQ(AsSet(g1->allowed_ips), (std::set<std::string>{"fd00:1::/64", "10.1.0.0/16"}));
  EXPECT_EQ(g1->endpoint, "[fd00::99]:51820");
  EXPECT_EQ(g1->protocol_version, 1u);
  EXPECT_EQ(AsSet(g2->allowed_ips), std::set<std::string>{"fd00:2::2/128"});
  EXPECT_FALSE(g2->endpoint.has_value());
  EXPECT_FALSE(g2->preshared_key.has_value());

  // The same state as a DesiredDevice: converged, nothing to send.
  DesiredDevice v1;
  v1.private_key = SecretBytes(self.priv.view());
  v1.listen_port = 51820;
  v1.peers = {{p1.pub, "[fd00::99]:51820", 0, {"fd00:1::/64", "10.1.0.0/16"}},
              {p2.pub, std::nullopt, 0, {"fd00:2::2/128"}}};
  WgDeviceConfig none = ComputeApply(*got, v1, v1);
  EXPECT_TRUE(IsNoop(none)) << ToString(none);

  // Change p1's prefixes, drop p2.
  DesiredDevice v2;
  v2.private_key = SecretBytes(self.priv.view());
  v2.listen_port = 51820;
  v2.peers = {{p1.pub, "[fd00::99]:51820", 0, {"fd00:1::/64", "10.2.0.0/16"}}};
  WgDeviceConfig op = ComputeApply(*got, v2, v1);
  ASSERT_EQ(op.peers.size(), 3u) << ToString(op);  // p1 gain, p1 replace, p2 remove
  s = dev.Set(op);
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  auto got2 = dev.Get();
  ASSERT_TRUE(got2.ok()) << got2.error().ToString();
  ASSERT_EQ(got2->peers.size(), 1u) << ToString(*got2);
  EXPECT_EQ(got2->peers[0].public_key, p1.pub);
  EXPECT_EQ(AsSet(got2->peers[0].allowed_ips),
            (std::set<std::string>{"fd00:1::/64", "10.2.0.0/16"}));
  EXPECT_EQ(got2->peers[0].endpoint, "[fd00::99]:51820");
  EXPECT_TRUE(IsNoop(ComputeApply(*got2, v2, v2)));

  // wireguard-tools sees the same device.
  std::string dump = Sh({"ip", "netns", "exec", ns.name(), "wg", "show", wg.ifname(), "dump"});
  auto rows = SplitDump(dump);
  ASSERT_EQ(rows.size(), 2u) << dump;
  ASSERT_GE(rows[0].size(), 3u) << dump;
  EXPECT_EQ(rows[0][0], Base64Encode(self.priv.view()));
  Bytes self_pub(kKeyLen);
  crypto_scalarmult_base(self_pub.data(), self.priv.data());
  EXPECT_EQ(rows[0][1], Base64Encode(self_pub));
  EXPECT_EQ(rows[0][2], "51820");
  ASSERT_GE(rows[1].size(), 8u) << dump;
  EXPECT_EQ(rows[1][0], Base64Encode(p1.pub));
  EXPECT_EQ(rows[1][1], "(none)");
  EXPECT_EQ(rows[1][2], "[fd00::99]:51820");
  EXPECT_EQ(SplitComma(rows[1][3]), (std::set<std::string>{"fd00:1::/64", "10.2.0.0/16"}));
  EXPECT_EQ(rows[1][7], "off");

  // No daemon for an interface: kUnavailable. (errno answers are covered by
  // the unit test's fake UAPI server: our formatter rejects what the
  // device would.)
  auto missing = OpenUapiDevice("wgt-missing0");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().reason, "wg_unavailable");
}

TEST_F(WgDeviceE2e, PingOverTunnelBetweenNamespaces) {
  Netns na, nb;
  ASSERT_TRUE(na.ok() && nb.ok());
  Sh({"ip", "-n", na.name(), "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
      "netns", nb.name()});
  Sh({"ip", "-n", na.name(), "addr", "add", "fd00:a::1/64", "dev", "veth0", "nodad"});
  Sh({"ip", "-n", nb.name(), "addr", "add", "fd00:a::2/64", "dev", "veth1", "nodad"});
  Sh({"ip", "-n", na.name(), "link", "set", "veth0", "up"});
  Sh({"ip", "-n", nb.name(), "link", "set", "veth1", "up"});
  ASSERT_FALSE(HasFailure());

  const std::string tag = RandomHex(4);
  WireguardGo wa(na, "wgt" + tag + "a"), wb(nb, "wgt" + tag + "b");
  std::string why;
  ASSERT_TRUE(wa.WaitReady(why)) << why;
  ASSERT_TRUE(wb.WaitReady(why)) << why;
  auto da = OpenUapiDevice(wa.ifname());
  auto db = OpenUapiDevice(wb.ifname());
  ASSERT_TRUE(da.ok() && db.ok());

  KeyPair ka = NewKeyPair(), kb = NewKeyPair();
  DesiredDevice want_a, want_b;
  want_a.private_key = SecretBytes(ka.priv.view());
  want_a.listen_port = 51820;
  want_a.peers = {{kb.pub, "[fd00:a::2]:51820", 0, {"fd00:b::2/128"}}};
  want_b.private_key = SecretBytes(kb.priv.view());
  want_b.listen_port = 51820;
  want_b.peers = {{ka.pub, "[fd00:a::1]:51820", 0, {"fd00:b::1/128"}}};
  for (auto [dev, want] : {std::pair{da->get(), &want_a}, std::pair{db->get(), &want_b}}) {
    auto cur = dev->Get();
    ASSERT_TRUE(cur.ok()) << cur.error().ToString();
    Status s = dev->Set(ComputeApply(*cur, *want, DesiredDevice{}));
    ASSERT_TRUE(s.ok()) << s.error().ToString();
  }
  Sh({"ip", "-n", na.name(), "addr", "add", "fd00:b::1/64", "dev", wa.ifname(), "nodad"});
  Sh({"ip", "-n", nb.name(), "addr", "add", "fd00:b::2/64", "dev", wb.ifname(), "nodad"});
  Sh({"ip", "-n", na.name(), "link", "set", wa.ifname(), "up"});
  Sh({"ip", "-n", nb.name(), "link", "set", wb.ifname(), "up"});
  ASSERT_FALSE(HasFailure());

  CommandResult ping = RunCommand({"ip", "netns", "exec", na.name(), "ping", "-6", "-c", "3", "-i",
                                   "0.2", "-w", "10", "fd00:b::2"});
  EXPECT_EQ(ping.exit_code, 0) << ping.output << "\nA log:\n"
                               << wa.Log() << "\nB log:\n"
                               << wb.Log();

  // The handshake and traffic show in get's stats.
  auto st = (*da)->Get();
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  ASSERT_EQ(st->peers.size(), 1u);
  EXPECT_GT(st->peers[0].last_handshake_sec, 0);
  EXPECT_GT(st->peers[0].rx_bytes, 0u);
  EXPECT_GT(st->peers[0].tx_bytes, 0u);
  EXPECT_EQ(st->peers[0].endpoint, "[fd00:a::2]:51820");
}

// The key switch of a rotation (docs/adr/0004-hitless-key-rotation.md): a
// set that changes the private key sends nothing by itself, AppendKeepaliveNow
// in the same set sends the handshake initiation before Set returns, and the
// peer moving the prefix to the new key (its own keepalive) brings the
// tunnel back at once.
TEST_F(WgDeviceE2e, KeepaliveNowSendsTheHandshakeBeforeSetReturns) {
  Netns na, nb;
  ASSERT_TRUE(na.ok() && nb.ok());
  Sh({"ip", "-n", na.name(), "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
      "netns", nb.name()});
  Sh({"ip", "-n", na.name(), "addr", "add", "fd00:a::1/64", "dev", "veth0", "nodad"});
  Sh({"ip", "-n", nb.name(), "addr", "add", "fd00:a::2/64", "dev", "veth1", "nodad"});
  Sh({"ip", "-n", na.name(), "link", "set", "veth0", "up"});
  Sh({"ip", "-n", nb.name(), "link", "set", "veth1", "up"});
  ASSERT_FALSE(HasFailure());
  const std::string tag = RandomHex(4);
  WireguardGo wa(na, "wgt" + tag + "a"), wb(nb, "wgt" + tag + "b");
  std::string why;
  ASSERT_TRUE(wa.WaitReady(why)) << why;
  ASSERT_TRUE(wb.WaitReady(why)) << why;
  auto da = OpenUapiDevice(wa.ifname());
  auto db = OpenUapiDevice(wb.ifname());
  ASSERT_TRUE(da.ok() && db.ok());
  KeyPair ka = NewKeyPair(), kb = NewKeyPair(), ka2 = NewKeyPair(), ka3 = NewKeyPair();
  DesiredDevice want_a, want_b;
  want_a.private_key = SecretBytes(ka.priv.view());
  want_a.listen_port = 51820;
  want_a.peers = {{kb.pub, "[fd00:a::2]:51820", 0, {"fd00:b::2/128"}}};
  want_b.private_key = SecretBytes(kb.priv.view());
  want_b.listen_port = 51820;
  want_b.peers = {{ka.pub, "[fd00:a::1]:51820", 0, {"fd00:b::1/128"}}};
  ASSERT_TRUE((*da)->Set(ComputeApply({}, want_a, {})).ok());
  ASSERT_TRUE((*db)->Set(ComputeApply({}, want_b, {})).ok());
  for (auto [ns, ifname, addr] : {std::tuple{&na, wa.ifname(), "fd00:b::1/64"},
                                  std::tuple{&nb, wb.ifname(), "fd00:b::2/64"}}) {
    Sh({"ip", "-n", ns->name(), "addr", "add", addr, "dev", ifname, "nodad"});
    Sh({"ip", "-n", ns->name(), "link", "set", ifname, "up"});
  }
  // B starts the tunnel, so A has sent no initiation in the last 5 s (the
  // device sends at most one per 5 s per peer).
  auto ping = [](const Netns& ns, const char* to, const char* wait) {
    return RunCommand({"ip", "netns", "exec", ns.name(), "ping", "-6", "-c", "1", "-w", wait, to});
  };
  CommandResult up = ping(nb, "fd00:b::1", "10");
  ASSERT_EQ(up.exit_code, 0) << up.output << "\nA:\n" << wa.Log() << "\nB:\n" << wb.Log();
  auto tx = [&]() -> uint64_t {
    auto st = (*da)->Get();
    EXPECT_TRUE(st.ok() && st->peers.size() == 1u);
    return st.ok() && st->peers.size() == 1u ? st->peers[0].tx_bytes : 0;
  };

  WgDeviceConfig bare;
  bare.private_key = SecretBytes(ka2.priv.view());
  const uint64_t before_bare = tx();
  ASSERT_TRUE((*da)->Set(bare).ok());
  EXPECT_EQ(tx(), before_bare) << "changing the key alone sends nothing while A is idle";

  WgDeviceConfig kicked;
  kicked.private_key = SecretBytes(ka3.priv.view());
  AppendKeepaliveNow(kicked, kb.pub, 0);
  const uint64_t before_kick = tx();
  ASSERT_TRUE((*da)->Set(kicked).ok());
  EXPECT_GE(tx(), before_kick + 148) << "a 148-byte handshake initiation left before Set returned";
  auto a_peer = (*da)->Get();
  ASSERT_TRUE(a_peer.ok() && a_peer->peers.size() == 1u);
  EXPECT_EQ(a_peer->peers[0].persistent_keepalive.value_or(0), 0) << "keepalive left off";

  // B moves A's prefix to A's new key; its keepalive's handshake is answered.
  // Not within 20 ms of B's first initiation: a device takes at most one
  // initiation per peer per 20 ms and drops one whose timestamp (16.7 ms
  // granularity) is not newer than the last as a replay.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  DesiredDevice want_b3;
  want_b3.private_key = SecretBytes(kb.priv.view());
  want_b3.listen_port = 51820;
  want_b3.peers = {{ka3.pub, "[fd00:a::1]:51820", 0, {"fd00:b::1/128"}}};
  auto cur_b = (*db)->Get();
  ASSERT_TRUE(cur_b.ok());
  ASSERT_TRUE((*db)->Set(ComputeApply(*cur_b, want_b3, want_b)).ok());
  CommandResult after = ping(na, "fd00:b::2", "2");
  EXPECT_EQ(after.exit_code, 0) << "no 5 s wait for a retry\n"
                                << after.output << "\nA:\n"
                                << wa.Log() << "\nB:\n"
                                << wb.Log();
}

}  // namespace
}  // namespace tpmesh::wg
