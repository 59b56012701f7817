// HTTP API of the authority (docs/protocol.md): routes requests to
// AuthorityService and encodes results as JSON. A net::Handler; holds no
// state of its own. Enrollment routes are anonymous; /v1/admin/* needs an
// admin certificate; node routes need an active node's certificate (checked
// against the store on every request).
#pragma once

#include "tpmesh/authority/service.h"
#include "tpmesh/net/http.h"

namespace tpmesh::authority {

// `service` and `publisher` (may be null: no config push) must outlive the
// returned handler.
net::Handler MakeApiHandler(AuthorityService& service, ConfigPublisher* publisher = nullptr);

}  // namespace tpmesh::authority
