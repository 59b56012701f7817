// ComputeApply: the minimal, ordered set operation (contract in diff.h).
#include "tpmesh/wg/diff.h"

#include <map>
#include <set>

#include "tpmesh/wg/uapi.h"

namespace tpmesh::wg {
namespace {

std::string CanonCidr(const std::string& s) {
  auto r = CanonicalCidr(s);
  return r.ok() ? *r : s;
}

std::optional<std::string> CanonEndpoint(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  auto r = CanonicalEndpoint(*s);
  return r.ok() ? *r : *s;
}

struct Plan {
  const DesiredPeer* want = nullptr;
  const WgPeer* have = nullptr;     // nullptr: new peer
  std::vector<std::string> full;    // canonical, de-duplicated, desired order
  std::vector<std::string> gained;  // in full, not on the device
  std::set<std::string> lost;       // on the device, not in full
};

}  // namespace

namespace {

// What each desired peer needs (first entry of a duplicated key counts);
// `wanted` collects the desired keys, `claimed` the prefixes some peer gains.
std::vector<Plan> PlanPeers(const WgDeviceConfig& current, const DesiredDevice& desired,
                            std::set<Bytes>& wanted, std::set<std::string>& claimed) {
  std::map<Bytes, const WgPeer*> have_by_key;
  for (const WgPeer& p : current.peers) have_by_key.emplace(p.public_key, &p);
  std::vector<Plan> plans;
  for (const DesiredPeer& d : desired.peers) {
    if (!wanted.insert(d.public_key).second) continue;
    Plan plan;
    plan.want = &d;
    auto it = have_by_key.find(d.public_key);
    if (it != have_by_key.end()) plan.have = it->second;
    std::set<std::string> have_ips, want_ips;
    if (plan.have) {
      for (const std::string& ip : plan.have->allowed_ips) have_ips.insert(CanonCidr(ip));
    }
    for (const std::string& ip : d.allowed_ips) {
      std::string c = CanonCidr(ip);
      if (!want_ips.insert(c).second) continue;
      plan.full.push_back(c);
      if (!have_ips.count(c)) {
        plan.gained.push_back(c);
        claimed.insert(c);
      }
    }
    for (const std::string& ip : have_ips) {
      if (!want_ips.count(ip)) plan.lost.insert(ip);
    }
    plans.push_back(std::move(plan));
  }
  return plans;
}

// Phase 1 for one peer: new or changed fields and gained prefixes only.
// nullopt: nothing to send. The endpoint is set only when the desired one
// changed since the last apply (a roamed endpoint the device learnt stays).
std::optional<WgPeer> PhaseOnePatch(const Plan& plan, const DesiredPeer* last) {
  const DesiredPeer& d = *plan.want;
  WgPeer p;
  p.public_key = d.public_key;
  bool changed = plan.have == nullptr;
  if (d.endpoint) {
    std::optional<std::string> want = CanonEndpoint(d.endpoint);
    std::optional<std::string> have = plan.have ? CanonEndpoint(plan.have->endpoint) : std::nullopt;
    std::optional<std::string> was = last ? CanonEndpoint(last->endpoint) : std::nullopt;
    bool config_changed = !plan.have || !have || was != want;
    if (config_changed && have != want) {
      p.endpoint = want;
      changed = true;
    }
  }
  uint16_t have_ka = plan.have ? plan.have->persistent_keepalive.value_or(0) : 0;
  if (d.persistent_keepalive != have_ka) {
    p.persistent_keepalive = d.persistent_keepalive;
    changed = true;
  }
  if (!plan.gained.empty()) {
    p.allowed_ips = plan.gained;
    changed = true;
  }
  if (!changed) return std::nullopt;
  return p;
}

// A new peer without persistent keepalive that takes a prefix over from
// another peer (a rotated key): creating it sends no keepalive, so without
// one its handshake would wait for the other side's retry.
bool TakesOverWithoutKeepalive(const Plan& plan, const std::set<std::string>& owned) {
  if (plan.have != nullptr || plan.want->persistent_keepalive != 0) return false;
  for (const std::string& ip : plan.gained) {
    if (owned.count(ip)) return true;
  }
  return false;
}

}  // namespace

WgDeviceConfig ComputeApply(const WgDeviceConfig& current, const DesiredDevice& desired,
                            const DesiredDevice& last_applied) {
  WgDeviceConfig out;
  if (desired.private_key &&
      (!current.private_key ||
       !ConstantTimeEqual(current.private_key->view(), desired.private_key->view()))) {
    out.private_key = SecretBytes(desired.private_key->view());
  }
  if (desired.listen_port && *desired.listen_port != 0 &&
      current.listen_port != desired.listen_port) {
    out.listen_port = desired.listen_port;
  }
  std::map<Bytes, const DesiredPeer*> last_by_key;
  for (const DesiredPeer& p : last_applied.peers) last_by_key.emplace(p.public_key, &p);
  std::set<Bytes> wanted;
  std::set<std::string> claimed;
  const std::vector<Plan> plans = PlanPeers(current, desired, wanted, claimed);

  std::set<std::string> owned;  // prefixes some peer holds on the device now
  for (const WgPeer& c : current.peers) {
    for (const std::string& ip : c.allowed_ips) owned.insert(CanonCidr(ip));
  }
  // Phase 1: new and changed peers, gained prefixes only (atomic moves).
  for (const Plan& plan : plans) {
    auto last = last_by_key.find(plan.want->public_key);
    auto p = PhaseOnePatch(plan, last == last_by_key.end() ? nullptr : last->second);
    if (p) out.peers.push_back(std::move(*p));
    if (TakesOverWithoutKeepalive(plan, owned)) {
      AppendKeepaliveNow(out, plan.want->public_key, 0);
    }
  }
  // Phase 2: peers losing a prefix that nobody claims: full replace.
  for (const Plan& plan : plans) {
    bool must_drop = false;
    for (const std::string& ip : plan.lost) must_drop |= claimed.count(ip) == 0;
    if (!must_drop) continue;
    WgPeer p;
    p.public_key = plan.want->public_key;
    p.update_only = true;
    p.replace_allowed_ips = true;
    p.allowed_ips = plan.full;
    out.peers.push_back(std::move(p));
  }
  // Phase 3: removals.
  for (const WgPeer& c : current.peers) {
    if (wanted.count(c.public_key)) continue;
    WgPeer p;
    p.public_key = c.public_key;
    p.remove = true;
    out.peers.push_back(std::move(p));
  }
  return out;
}

bool IsNoop(const WgDeviceConfig& c) {
  return !c.private_key && !c.listen_port && !c.fwmark && !c.replace_peers && c.peers.empty();
}

}  // namespace tpmesh::wg
