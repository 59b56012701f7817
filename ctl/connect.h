// The real AdminApi: net::Client (HTTPS, mutual TLS with the admin
// certificate, server verified against the given CA).
#pragma once

#include "ctl/common.h"

namespace tpmesh::ctl {

// Connector for Run(): builds a net::Client from the connection. Transport
// failures surface as the client's "authority_unreachable" error; non-2xx
// responses as the authority's own error (net::ErrorFromResponse).
[[nodiscard]] Result<std::unique_ptr<AdminApi>> ConnectHttps(const Connection& connection);

}  // namespace tpmesh::ctl
