#include "conn_limits.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace tpmesh::net::internal {

std::string SourceKey(std::string_view ip) {
  const std::string text(ip.substr(0, 64));
  in6_addr a6{};
  if (inet_pton(AF_INET6, text.c_str(), &a6) == 1) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (IN6_IS_ADDR_V4MAPPED(&a6)) {
      in_addr a4{};
      std::memcpy(&a4, a6.s6_addr + 12, 4);
      return inet_ntop(AF_INET, &a4, buf, sizeof buf) != nullptr ? buf : text;
    }
    std::memset(a6.s6_addr + 8, 0, 8);
    if (inet_ntop(AF_INET6, &a6, buf, sizeof buf) == nullptr) return text;
    return std::string(buf) + "/64";
  }
  return text;
}

ConnectionLimits::Admit ConnectionLimits::Open(const std::string& source) {
  if (open_ >= limits_.max_connections) return Admit::kRefuse;
  auto it = per_source_.find(source);
  const size_t from = it == per_source_.end() ? 0 : it->second;
  const bool over = anonymous_ >= limits_.max_anonymous || from >= limits_.max_anonymous_per_source;
  const size_t max_probation = std::max<size_t>(16, limits_.max_anonymous / 4);
  if (over && probation_ >= max_probation) return Admit::kRefuse;
  ++open_;
  ++anonymous_;
  ++per_source_[source];
  if (!over) return Admit::kAccept;
  ++probation_;
  return Admit::kProbation;
}

void ConnectionLimits::Authenticated(const std::string& source, bool probation) {
  if (probation && probation_ > 0) --probation_;
  auto it = per_source_.find(source);
  if (it == per_source_.end() || anonymous_ == 0) return;
  --anonymous_;
  if (--it->second == 0) per_source_.erase(it);
}

void ConnectionLimits::Close(const std::string& source, bool anonymous, bool probation) {
  if (open_ > 0) --open_;
  if (anonymous) {
    Authenticated(source, probation);
  } else if (probation && probation_ > 0) {
    --probation_;
  }
}

size_t ConnectionLimits::anonymous_from(const std::string& source) const {
  auto it = per_source_.find(source);
  return it == per_source_.end() ? 0 : it->second;
}

}  // namespace tpmesh::net::internal
