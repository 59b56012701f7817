#include "conn_limits.h"

#include <arpa/inet.h>

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
  size_t& from = per_source_[source];
  const bool over = anonymous_ >= limits_.max_anonymous || from >= limits_.max_anonymous_per_source;
  ++open_;
  ++anonymous_;
  ++from;
  return over ? Admit::kProbation : Admit::kAccept;
}

void ConnectionLimits::Authenticated(const std::string& source) {
  auto it = per_source_.find(source);
  if (it == per_source_.end() || anonymous_ == 0) return;
  --anonymous_;
  if (--it->second == 0) per_source_.erase(it);
}

void ConnectionLimits::Close(const std::string& source, bool anonymous) {
  if (open_ > 0) --open_;
  if (anonymous) Authenticated(source);
}

size_t ConnectionLimits::anonymous_from(const std::string& source) const {
  auto it = per_source_.find(source);
  return it == per_source_.end() ? 0 : it->second;
}

}  // namespace tpmesh::net::internal
