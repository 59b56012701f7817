// Rotation policy validation and the deterministic per-node schedule.
#include "tpmesh/keyrotate/schedule.h"

#include <sodium.h>

#include <array>
#include <cstring>
#include <string>

namespace tpmesh::keyrotate {

namespace {

using std::chrono::seconds;

Error Invalid(const char* field, const std::string& rule, seconds got) {
  return MakeError(
      Code::kInvalidArgument, "invalid_policy",
      std::string(field) + ": must be " + rule + ", got " + std::to_string(got.count()) + "s");
}

std::string S(seconds s) { return std::to_string(s.count()) + "s"; }

// Domain-separation key for the jitter hash (16 bytes, BLAKE2b's minimum).
constexpr std::array<unsigned char, crypto_generichash_KEYBYTES_MIN> kJitterKey = {
    't', 'p', 'm', 'e', 's', 'h', '-', 'j', 'i', 't', 't', 'e', 'r', '-', 'v', '1'};

}  // namespace

Status RotationPolicy::Validate() const {
  if (period <= seconds(0) || period > kMaxPeriod)
    return Invalid("period", "in (0, " + S(kMaxPeriod) + "]", period);
  if (jitter < seconds(0) || jitter >= period / 2)
    return Invalid("jitter", "in [0, period/2 = " + S(period / 2) + ")", jitter);
  if (lead_time <= seconds(0) || lead_time >= period - jitter) {
    return Invalid("lead_time", "in (0, period - jitter = " + S(period - jitter) + ")", lead_time);
  }
  if (overlap <= seconds(0) || overlap >= period)
    return Invalid("overlap", "in (0, period = " + S(period) + ")", overlap);
  if (confirm_deadline <= seconds(0) || confirm_deadline > lead_time) {
    return Invalid("confirm_deadline", "in (0, lead_time = " + S(lead_time) + "]",
                   confirm_deadline);
  }
  if (retry_after <= seconds(0) || retry_after >= period) {
    return Invalid("retry_after", "in (0, period = " + S(period) + ")", retry_after);
  }
  return OkStatus();
}

seconds JitterFor(std::string_view node_id, seconds jitter) {
  if (jitter <= seconds(0)) return seconds(0);
  std::array<unsigned char, 8> digest{};
  // sodium_init() is idempotent and thread-safe; BLAKE2b itself does not
  // depend on its outcome. The digest is identical on every host.
  static const bool sodium_ready = sodium_init() >= 0;
  (void)sodium_ready;
  crypto_generichash(digest.data(), digest.size(),
                     reinterpret_cast<const unsigned char*>(node_id.data()), node_id.size(),
                     kJitterKey.data(), kJitterKey.size());
  uint64_t h = 0;
  for (unsigned char b : digest) h = (h << 8) | b;  // big-endian: host independent
  // Multiply-high maps 64 uniform bits onto [0, jitter) without modulo bias.
  __extension__ typedef unsigned __int128 U128;
  const U128 n = static_cast<uint64_t>(jitter.count());
  return seconds(static_cast<int64_t>((static_cast<U128>(h) * n) >> 64));
}

TimePoint NextRotation(const RotationPolicy& policy, TimePoint last_rotation,
                       std::string_view node_id) {
  return last_rotation + policy.period - JitterFor(node_id, policy.jitter);
}

TimePoint AnnounceAt(const RotationPolicy& policy, TimePoint last_rotation,
                     std::string_view node_id) {
  return NextRotation(policy, last_rotation, node_id) - policy.lead_time;
}

}  // namespace tpmesh::keyrotate
