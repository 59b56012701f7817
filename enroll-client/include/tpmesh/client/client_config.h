// client.toml: the defaults of every tpmesh-client command, below its
// command line (a flag given wins). docs/operations.md, "Configuration".
//
//   state_dir   = "/var/lib/tpmesh"
//   interface   = "tpmesh0"
//   listen_port = 51820
//   uapi_dir    = "/var/run/wireguard"
//   wg_backend  = "auto"                 # or "kernel", "userspace" (run --wg-backend)
//   tcti        = "device:/dev/tpmrm0"   # or "none" (run: no renewal)
//   poll_wait   = "25s"
//   authorities = ["https://[fd00::2]:8443"]  # run: tried after the enrolled one
//   endpoints   = ["[2001:db8::21]:51820"]   # reported by run, registered by enroll;
//                                            # absent: run derives them from the addresses
//   [enroll]                                  # first boot (tpmesh-enroll.service)
//   authority      = "https://authority.example.internal:8443"
//   ca_fingerprint = "<from tpmesh-authority init>"
//   hostname       = "web-1"
//   endpoints      = ["[2001:db8::21]:51820"]
//   token_file     = "/etc/tpmesh/enroll-token"
//
// Unknown keys are errors, as in authority.toml.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tpmesh/client/daemon.h"
#include "tpmesh/client/enroll.h"
#include "tpmesh/tomlcfg/findings.h"

namespace tpmesh::client {

inline constexpr const char* kDefaultClientConfig = "/etc/tpmesh/client.toml";

struct ClientConfig {
  DaemonOptions daemon;  // state_dir, ifname, listen_port, uapi_dir, poll wait, authorities
  std::optional<std::string> tcti;  // unset: TPMESH_TCTI, else device:/dev/tpmrm0 (tcti.h)
  EnrollOptions enroll;             // authority_url, ca_fingerprint, hostname, endpoints
  std::string token_file;           // [enroll] token_file
};

// Reads `path`. A missing file is an error only when `required` (the
// operator named it); otherwise the defaults. Errors: "invalid_config"
// naming the file and the key.
[[nodiscard]] Result<ClientConfig> LoadClientConfig(const std::string& path, bool required);

// `tpmesh-client config check`: the state directory (enrolled as which node,
// or not yet: then [enroll] must be complete), the node certificate, the
// TPM (it opens, and its EK is the one that names the node), the authority
// URLs, and the WireGuard backend (wireguard-go on PATH). Opens the TPM
// (`tcti`, "" = renewal off: not checked); writes nothing.
std::vector<tomlcfg::Finding> CheckClientConfig(const ClientConfig& c, const std::string& tcti);

}  // namespace tpmesh::client
