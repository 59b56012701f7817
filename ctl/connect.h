// The real AdminApi: net::Client (HTTPS, mutual TLS with the admin
// certificate, server verified against the given CA).
#pragma once

#include <functional>

#include "ctl/common.h"
#include "tpmesh/net/http.h"

namespace tpmesh::ctl {

// Connector for Run(): builds a net::Client from the connection. Transport
// failures surface as the client's "authority_unreachable" error; non-2xx
// responses as the authority's own error (net::ErrorFromResponse).
[[nodiscard]] Result<std::unique_ptr<AdminApi>> ConnectHttps(const Connection& connection);

// The same over clients from `make_client` (tests: an in-process authority).
using ClientFactory =
    std::function<Result<std::unique_ptr<net::Client>>(const net::ClientOptions& options)>;
[[nodiscard]] Result<std::unique_ptr<AdminApi>> ConnectWith(const Connection& connection,
                                                            const ClientFactory& make_client);

}  // namespace tpmesh::ctl
