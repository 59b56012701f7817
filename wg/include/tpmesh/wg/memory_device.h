// An in-memory WgDevice that models the UAPI set semantics of wireguard-go
// (device/uapi.go): lines applied in order; allowed_ip moves a prefix from
// its previous owner in one step; replace_allowed_ips / remove / replace_peers
// drop prefixes; update_only skips absent peers; all-zero private / preshared
// keys clear them. For unit tests of code that programs a WgDevice.
//
// It also records transient_ownerless(): canonical prefixes that had an owner
// before the last Set and after it, but none at some point in between (the
// packets-dropped window diff.h's ordering avoids), and keepalives_sent():
// the peers a real device would have sent a keepalive to during the last Set
// (a peer operation that turned the persistent keepalive from off to on, a
// new peer included), in order; keepalives_to(key) counts them over every
// Set. Not thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tpmesh/wg/device.h"

namespace tpmesh::wg {

class MemoryWgDevice : public WgDevice {
 public:
  explicit MemoryWgDevice(std::string name = "wgmem0") : name_(std::move(name)) {}

  // A deep copy of the state (peers in creation order, protocol_version 1).
  Result<WgDeviceConfig> Get() override;
  // Validates with FormatUapiSet (same errors as a real Set), then applies.
  // If FailNextSet was called, fails with that error and changes nothing.
  Status Set(const WgDeviceConfig& config) override;
  std::string name() const override { return name_; }

  const std::vector<std::string>& transient_ownerless() const { return transient_; }
  const std::vector<Bytes>& keepalives_sent() const { return keepalives_; }
  int keepalives_to(const Bytes& public_key) const;
  int set_calls() const { return set_calls_; }
  void FailNextSet(Error e) { fail_next_ = std::move(e); }
  // What roaming does: the device replaces a peer's endpoint on its own.
  // False if there is no such peer.
  bool SetLearnedEndpoint(const Bytes& public_key, std::string endpoint);

 private:
  WgPeer* Find(const Bytes& key);
  void DropAll(WgPeer& p, std::vector<std::string>& dropped);

  std::string name_;
  WgDeviceConfig state_;
  std::vector<std::string> transient_;
  std::vector<Bytes> keepalives_;
  std::vector<Bytes> all_keepalives_;
  std::optional<Error> fail_next_;
  int set_calls_ = 0;
};

}  // namespace tpmesh::wg
