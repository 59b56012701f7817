#include "tpmesh/client/node_state.h"

#include <sodium.h>

#include "tpmesh/client/renew.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::client {
namespace {

Error Corrupt(const std::string& path, const std::string& what) {
  return MakeError(Code::kFailedPrecondition, "state_corrupt",
                   path + ": " + what + "; enroll again ('tpmesh-client enroll --force')");
}

Result<std::string> ReadStateFile(const std::string& path) {
  auto r = pki::ReadFile(path);
  if (!r.ok()) return Corrupt(path, r.error().message);
  return r;
}

void TrimEnd(std::string& s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
}

bool SameSecret(ByteView a, ByteView b) {
  return a.size() == b.size() && (a.empty() || sodium_memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace

NodeFiles::~NodeFiles() { sodium_memzero(node_key.data(), node_key.size()); }

Result<std::unique_ptr<NodeFiles>> LoadNodeFiles(const std::string& dir,
                                                 const std::vector<std::string>& extra_urls) {
  auto f = std::make_unique<NodeFiles>();
  auto path = [&](const char* n) { return dir + "/" + n; };
  TPMESH_RETURN_IF_ERROR(RecoverRenewal(dir));  // an interrupted key/cert swap
  auto raw = pki::ReadFile(path("node.json"));
  if (!raw.ok()) {
    if (raw.error().reason != "file_not_found")
      return Corrupt(path("node.json"), raw.error().message);
    return MakeError(Code::kFailedPrecondition, "not_enrolled",
                     "no " + path("node.json") + ": run 'tpmesh-client enroll' first");
  }
  auto enrolled = proto::ParseEnrollFinishResponse(*raw);
  if (!enrolled.ok()) return Corrupt(path("node.json"), enrolled.error().message);
  f->enrolled = std::move(*enrolled);
  TPMESH_ASSIGN_OR_RETURN(std::string url, ReadStateFile(path("authority")));
  TrimEnd(url);
  if (url.empty()) return Corrupt(path("authority"), "empty (it holds the authority URL)");
  f->authority_urls.push_back(url);
  for (const auto& u : extra_urls) f->authority_urls.push_back(u);
  TPMESH_ASSIGN_OR_RETURN(std::string wg_b64, ReadStateFile(path("wg.key")));
  TrimEnd(wg_b64);
  auto wg = Base64Decode(wg_b64, "wg.key");
  sodium_memzero(wg_b64.data(), wg_b64.size());
  if (!wg.ok() || wg->size() != 32) {
    if (wg.ok()) sodium_memzero(wg->data(), wg->size());
    return Corrupt(path("wg.key"), "not a base64 WireGuard private key");
  }
  f->wg_private = SecretBytes(*wg);
  sodium_memzero(wg->data(), wg->size());
  TPMESH_ASSIGN_OR_RETURN(f->node_cert, ReadStateFile(path("node.crt")));
  TPMESH_ASSIGN_OR_RETURN(f->node_key, ReadStateFile(path("node.key")));
  TPMESH_ASSIGN_OR_RETURN(f->ca, ReadStateFile(path("ca.crt")));
  return f;
}

bool SameNodeFiles(const NodeFiles& a, const NodeFiles& b) {
  return proto::ToJson(a.enrolled) == proto::ToJson(b.enrolled) &&
         a.authority_urls == b.authority_urls && a.node_cert == b.node_cert && a.ca == b.ca &&
         SameSecret(AsView(a.node_key), AsView(b.node_key)) &&
         SameSecret(a.wg_private.view(), b.wg_private.view());
}

}  // namespace tpmesh::client
