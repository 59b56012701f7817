// tpmesh-attest-demo: one attestation round trip against a TPM, printing each
// check and its verdict in plain words. Plays both roles in one process: the
// node (through the Tpm interface) and the verifier. Used by scripts/demo.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "tpmesh/attest/tpm.h"
#include "tpmesh/attest/verifier.h"

namespace {

using namespace tpmesh;
using namespace tpmesh::attest;

void PrintLog(const CheckLog& log) {
  std::string last;
  for (const auto& o : log) {
    std::printf("  [%s] check %2d  %s\n", o.passed ? " ok " : "FAIL", static_cast<int>(o.check),
                CheckDescription(o.check));
    if (!o.detail.empty() && o.detail != last)
      std::printf("                 %s\n", o.detail.c_str());
    last = o.detail;
  }
}

int Fail(const char* step, const Error& e) {
  std::printf("\n%s failed: %s\n", step, e.ToString().c_str());
  return 1;
}

// Three attacks on the round just completed; each must be refused.
// Returns 0 when all three are, else 1.
int RefuseAttacks(Tpm& tpm, const AkBlob& ak, KeyAlg ek_alg, Verifier& verifier,
                  const EnrollEvidence& evidence, const PcrPolicy& policy, ChallengeBook& book,
                  const std::string& challenge_id, const PendingChallenge& pending,
                  const QuoteEvidence& quote) {
  std::printf("Attacks the verifier must refuse:\n");
  {
    auto again = book.Take(challenge_id);
    std::printf("  the same answer sent a second time:            %s\n",
                again.ok() ? "ACCEPTED (bug!)" : again.error().ToString().c_str());
    if (again.ok()) return 1;
  }
  {
    auto fresh = verifier.Begin(evidence);
    if (!fresh.ok()) return Fail("a second round 1", fresh.error());
    ChallengeResponse old{SecretBytes(pending.secret.view()), quote};
    auto r = verifier.Complete(fresh->second, old, &policy);
    std::printf("  replayed secret and quote on a new challenge: %s\n",
                r.ok() ? "ACCEPTED (bug!)" : r.error().ToString().c_str());
    if (r.ok()) return 1;
  }
  {
    Bytes measurement(32, 0x42);
    if (auto s = tpm.ExtendPcr(7, measurement); !s.ok()) return Fail("PCR extend", s.error());
    auto fresh = verifier.Begin(evidence);
    if (!fresh.ok()) return Fail("a third round 1", fresh.error());
    auto sec = tpm.ActivateCredential(ak, ek_alg, fresh->first.credential);
    auto q = tpm.Quote(ak, fresh->first.selection, fresh->first.nonce);
    if (!sec.ok() || !q.ok())
      return Fail("round 2 after extend", sec.ok() ? q.error() : sec.error());
    auto r = verifier.Complete(fresh->second, ChallengeResponse{std::move(*sec), *q}, &policy);
    std::printf("  boot chain changed (PCR 7 extended):          %s\n",
                r.ok() ? "ACCEPTED (bug!)" : r.error().ToString().c_str());
    if (r.ok()) return 1;
  }
  return 0;
}

int Run(const std::string& tcti, const std::string& trust_dir, KeyAlg ek_alg, KeyAlg ak_alg,
        bool dev) {
  std::printf("Node: opening the TPM at %s\n", tcti.c_str());
  auto tpm = OpenTpm(tcti);
  if (!tpm.ok()) return Fail("opening the TPM", tpm.error());
  auto trust = TrustStore::LoadDirectory(trust_dir);
  if (!trust.ok()) return Fail("loading the trust directory", trust.error());
  std::printf("Verifier: trusting %zu root(s) and %zu intermediate(s) from %s%s\n",
              trust->root_count(), trust->intermediate_count(), trust_dir.c_str(),
              dev ? " (dev mode: software TPMs accepted)" : "");

  auto ek = (*tpm)->ReadEk(ek_alg);
  if (!ek.ok()) return Fail("reading the EK", ek.error());
  std::printf("Node: EK %s recreated from the TCG template; certificate %s in NV\n",
              KeyAlgName(ek_alg), ek->ek_cert_der ? "found" : "NOT found");
  auto ak = (*tpm)->CreateAk(ak_alg);
  if (!ak.ok()) return Fail("creating the AK", ak.error());
  std::printf("Node: AK %s created under the SRK (TPM-wrapped blob, %zu bytes)\n",
              KeyAlgName(ak_alg), ak->Serialize().size());

  VerifierOptions opts;
  opts.allow_software_tpm = dev;
  Verifier verifier(*trust, opts, SystemClock::Instance(), SystemRandom::Instance());

  // The operator adopts this machine's current PCR values as the golden policy.
  auto golden = (*tpm)->ReadPcrs(opts.selection);
  if (!golden.ok()) return Fail("reading PCRs", golden.error());
  PcrPolicy policy{"demo-golden", HashAlg::kSha256, {}};
  for (auto& [pcr, value] : *golden) policy.golden[pcr].push_back(value);
  std::printf("Operator: adopted the node's current PCRs 0-7 as policy '%s'\n\n",
              policy.name.c_str());

  std::printf("Round 1 - the node sends EK certificate, EK public and AK public:\n");
  EnrollEvidence evidence{ek->ek_public, ek->ek_cert_der, ek->intermediates, ak->public_area};
  CheckLog log;
  auto begun = verifier.Begin(evidence, &log);
  PrintLog(log);
  if (!begun.ok()) return Fail("round 1", begun.error());
  auto& challenge = begun->first;
  ChallengeBook book(SystemClock::Instance());
  const std::string challenge_id = book.Put(std::move(begun->second), SystemRandom::Instance());
  std::printf("  -> challenge: credential sealed to the EK for the AK's name, %zu-byte nonce\n\n",
              challenge.nonce.size());

  std::printf("Round 2 - the node activates the credential and quotes PCRs with the nonce:\n");
  auto secret = (*tpm)->ActivateCredential(*ak, ek_alg, challenge.credential);
  if (!secret.ok()) return Fail("ActivateCredential", secret.error());
  auto quote = (*tpm)->Quote(*ak, challenge.selection, challenge.nonce);
  if (!quote.ok()) return Fail("Quote", quote.error());
  auto pending = book.Take(challenge_id);
  if (!pending.ok()) return Fail("taking the challenge", pending.error());
  ChallengeResponse response{std::move(*secret), *quote};
  log.clear();
  auto node = verifier.Complete(*pending, response, &policy, &log);
  PrintLog(log);
  if (!node.ok()) return Fail("round 2", node.error());
  std::printf("  -> ADMITTED: EK fingerprint sha256:%s\n\n",
              HexEncode(node->ek_spki_sha256).c_str());

  if (int rc = RefuseAttacks(**tpm, *ak, ek_alg, verifier, evidence, policy, book, challenge_id,
                             *pending, *quote);
      rc != 0) {
    return rc;
  }
  auto handles = (*tpm)->TransientHandleCount();
  if (!handles.ok()) return Fail("counting TPM handles", handles.error());
  std::printf("\nTPM transient handles left loaded: %zu\n", *handles);
  return *handles == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"One TPM 2.0 attestation round trip, with each verifier check explained"};
  std::string tcti = kDefaultTcti, trust_dir, ek_alg = "rsa2048", ak_alg = "ecc-p256";
  bool dev = false;
  app.add_option("--tcti", tcti, "TPM TCTI string")->capture_default_str();
  app.add_option("--trust-dir", trust_dir, "directory of trusted EK roots and intermediates")
      ->required();
  app.add_option("--ek-alg", ek_alg, "EK algorithm: rsa2048 or ecc-p256")->capture_default_str();
  app.add_option("--ak-alg", ak_alg, "AK algorithm: ecc-p256 or rsa2048")->capture_default_str();
  app.add_flag("--dev", dev, "accept software TPM (swtpm) EK certificates");
  CLI11_PARSE(app, argc, argv);
  auto ek = ParseKeyAlg(ek_alg);
  auto ak = ParseKeyAlg(ak_alg);
  if (!ek.ok() || !ak.ok()) {
    std::fprintf(stderr, "%s\n", (ek.ok() ? ak.error() : ek.error()).message.c_str());
    return 2;
  }
  return Run(tcti, trust_dir, *ek, *ak, dev);
}
