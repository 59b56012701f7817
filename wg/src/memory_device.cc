// MemoryWgDevice: in-memory model of the UAPI set semantics.
#include "tpmesh/wg/memory_device.h"

#include <sodium.h>

#include <algorithm>
#include <set>

#include "tpmesh/wg/uapi.h"

namespace tpmesh::wg {
namespace {

bool IsZero(ByteView b) { return sodium_is_zero(b.data(), b.size()) == 1; }

std::set<std::string> Owned(const WgDeviceConfig& c) {
  std::set<std::string> s;
  for (const WgPeer& p : c.peers) s.insert(p.allowed_ips.begin(), p.allowed_ips.end());
  return s;
}

}  // namespace

Result<WgDeviceConfig> MemoryWgDevice::Get() { return Clone(state_); }

WgPeer* MemoryWgDevice::Find(const Bytes& key) {
  for (WgPeer& p : state_.peers) {
    if (p.public_key == key) return &p;
  }
  return nullptr;
}

void MemoryWgDevice::DropAll(WgPeer& p, std::vector<std::string>& dropped) {
  dropped.insert(dropped.end(), p.allowed_ips.begin(), p.allowed_ips.end());
  p.allowed_ips.clear();
}

bool MemoryWgDevice::SetLearnedEndpoint(const Bytes& public_key, std::string endpoint) {
  WgPeer* p = Find(public_key);
  if (!p) return false;
  p->endpoint = std::move(endpoint);
  return true;
}

int MemoryWgDevice::keepalives_to(const Bytes& public_key) const {
  return static_cast<int>(std::count(all_keepalives_.begin(), all_keepalives_.end(), public_key));
}

Status MemoryWgDevice::Set(const WgDeviceConfig& c) {
  ++set_calls_;
  if (fail_next_) {
    Error e = std::move(*fail_next_);
    fail_next_.reset();
    return e;
  }
  {
    auto text = FormatUapiSet(c);  // same validation as the socket backend
    if (!text.ok()) return text.take_error();
    sodium_memzero(text->data(), text->size());
  }
  const std::set<std::string> before = Owned(state_);
  std::vector<std::string> dropped;
  keepalives_.clear();

  if (c.private_key) {
    state_.private_key.reset();
    if (!IsZero(c.private_key->view())) state_.private_key = SecretBytes(c.private_key->view());
  }
  if (c.listen_port) state_.listen_port = c.listen_port;
  if (c.fwmark) {
    state_.fwmark.reset();
    if (*c.fwmark) state_.fwmark = c.fwmark;
  }
  if (c.replace_peers) {
    for (WgPeer& p : state_.peers) DropAll(p, dropped);
    state_.peers.clear();
  }
  for (const WgPeer& op : c.peers) {
    WgPeer* p = Find(op.public_key);
    if (!p) {
      if (op.update_only || op.remove) continue;  // device ignores the lines
      WgPeer fresh;
      fresh.public_key = op.public_key;
      fresh.persistent_keepalive = 0;
      fresh.protocol_version = 1;
      state_.peers.push_back(std::move(fresh));
      p = &state_.peers.back();
    }
    if (op.remove) {
      DropAll(*p, dropped);
      state_.peers.erase(state_.peers.begin() + (p - state_.peers.data()));
      continue;
    }
    if (op.preshared_key) {
      p->preshared_key.reset();
      if (!IsZero(op.preshared_key->view()))
        p->preshared_key = SecretBytes(op.preshared_key->view());
    }
    if (op.endpoint) p->endpoint = *CanonicalEndpoint(*op.endpoint);
    if (op.persistent_keepalive) {
      if (p->persistent_keepalive.value_or(0) == 0 && *op.persistent_keepalive != 0) {
        keepalives_.push_back(op.public_key);
        all_keepalives_.push_back(op.public_key);
      }
      p->persistent_keepalive = op.persistent_keepalive;
    }
    if (op.replace_allowed_ips) DropAll(*p, dropped);
    for (const std::string& ip : op.allowed_ips) {
      std::string cidr = *CanonicalCidr(ip);
      for (WgPeer& other : state_.peers) {  // one owner per prefix: move
        auto& v = other.allowed_ips;
        v.erase(std::remove(v.begin(), v.end(), cidr), v.end());
      }
      p->allowed_ips.push_back(cidr);
    }
  }

  const std::set<std::string> after = Owned(state_);
  transient_.clear();
  std::set<std::string> seen;
  for (const std::string& ip : dropped) {
    if (before.count(ip) && after.count(ip) && seen.insert(ip).second) transient_.push_back(ip);
  }
  return OkStatus();
}

}  // namespace tpmesh::wg
