// tpmesh-client: enroll (first boot). Thin: logic in tpmesh_client.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "tpmesh/client/enroll.h"

namespace {

using namespace tpmesh;

int Enroll(client::EnrollOptions o, const std::string& tcti, const std::string& ek_alg) {
  if (!ek_alg.empty()) {
    auto alg = attest::ParseKeyAlg(ek_alg);
    if (!alg.ok()) {
      std::fprintf(stderr, "tpmesh-client: %s\n", alg.error().message.c_str());
      return 2;
    }
    o.ek_alg = *alg;
  }
  auto tpm = attest::OpenTpm(tcti);
  if (!tpm.ok()) {
    std::fprintf(stderr, "tpmesh-client: %s\n", tpm.error().ToString().c_str());
    return 1;
  }
  auto r = client::Enroll(o, **tpm, [](const std::string& line) {
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  });
  if (!r.ok()) {
    std::fprintf(stderr, "tpmesh-client: enrollment failed: %s\n", r.error().ToString().c_str());
    return r.error().reason == "pending_approval" ? 3 : 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tpmesh-client: TPM-attested enrollment into a tpmesh WireGuard mesh"};
  app.require_subcommand(1);
  client::EnrollOptions o;
  std::string tcti = attest::kDefaultTcti, ek_alg;
  std::optional<std::string> token;
  auto* enroll = app.add_subcommand("enroll", "enroll this host (first boot); a no-op if already enrolled");
  enroll->add_option("--authority", o.authority_url, "authority URL, e.g. https://[fd00::1]:8443")->required();
  enroll->add_option("--ca-fingerprint", o.ca_fingerprint, "SHA-256 of the authority CA (from init)")->required();
  enroll->add_option("--hostname", o.hostname, "this node's name in the mesh")->required();
  enroll->add_option("--endpoint", o.endpoints, "underlay endpoint peers reach this host at ([v6]:port)");
  enroll->add_option("--tcti", tcti, "TPM TCTI")->capture_default_str();
  enroll->add_option("--state-dir", o.state_dir, "node state directory")->capture_default_str();
  enroll->add_option("--token", o.token, "one-time enrollment token");
  enroll->add_option("--ek-alg", ek_alg, "rsa2048 or ecc-p256 (default: first EK with a certificate)");
  enroll->add_option("--wait", o.wait_for_approval_seconds, "wait this long for admin approval");
  enroll->add_flag("--force", o.force, "enroll again even if already enrolled");
  CLI11_PARSE(app, argc, argv);
  return Enroll(o, tcti, ek_alg);
}
