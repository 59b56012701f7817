#include "tpmesh/proto/enroll.h"

#include <nlohmann/json.hpp>
#include <sodium.h>

#include <algorithm>

#include "quote_json.h"
#include "tpmesh/common/parse.h"
#include "tpmesh/json/reader.h"

namespace tpmesh::proto {

using nlohmann::json;

namespace {

constexpr size_t kMaxTpmStruct = 4096;
constexpr size_t kMaxCert = 8192;

}  // namespace

std::string ToJson(const EnrollStartRequest& v) {
  json j{{"hostname", v.hostname},
         {"ek_alg", attest::KeyAlgName(v.ek_alg)},
         {"ek_public", Base64Encode(v.ek_public)},
         {"ak_public", Base64Encode(v.ak_public)}};
  if (v.ek_cert) j["ek_cert"] = Base64Encode(*v.ek_cert);
  json inter = json::array();
  for (const auto& c : v.ek_intermediates) inter.push_back(Base64Encode(c));
  j["ek_intermediates"] = inter;
  return j.dump();
}

Result<EnrollStartRequest> ParseEnrollStartRequest(std::string_view text) {
  JsonReader r(text);
  EnrollStartRequest v;
  v.hostname = r.String("hostname", 1024);  // CanonicalHostname: 253
  std::string alg = r.String("ek_alg", 16);
  v.ek_public = r.B64("ek_public", kMaxTpmStruct);
  v.ek_cert = r.OptB64("ek_cert", kMaxCert);
  v.ek_intermediates = r.B64List("ek_intermediates", 4, kMaxCert);
  v.ak_public = r.B64("ak_public", kMaxTpmStruct);
  if (!r.ok()) return r.error();
  TPMESH_ASSIGN_OR_RETURN(v.ek_alg, attest::ParseKeyAlg(alg));
  TPMESH_ASSIGN_OR_RETURN(v.hostname, CanonicalHostname(v.hostname));
  return v;
}

std::string ToJson(const EnrollStartResponse& v) {
  return json{{"challenge_id", v.challenge_id},
              {"credential",
               {{"id_object", Base64Encode(v.credential.id_object)},
                {"encrypted_secret", Base64Encode(v.credential.encrypted_secret)}}},
              {"nonce", Base64Encode(v.nonce)},
              {"pcr_selection", PcrSelectionJson(v.pcr_selection)},
              {"expires_at", v.expires_at}}
      .dump();
}

Result<EnrollStartResponse> ParseEnrollStartResponse(std::string_view text) {
  JsonReader r(text);
  EnrollStartResponse v;
  v.challenge_id = r.String("challenge_id", 64);
  JsonReader c = r.Object("credential");
  v.credential.id_object = c.B64("id_object", kMaxTpmStruct);
  v.credential.encrypted_secret = c.B64("encrypted_secret", kMaxTpmStruct);
  v.nonce = r.B64("nonce", 64);
  v.expires_at = r.Int("expires_at", 0, INT64_MAX);
  if (!r.ok()) return r.error();
  if (!c.ok()) return c.error();
  TPMESH_ASSIGN_OR_RETURN(v.pcr_selection, ReadPcrSelection(r));
  return v;
}

std::string ToJson(const EnrollFinishRequest& v) {
  json j{{"challenge_id", v.challenge_id},
         {"secret", Base64Encode(v.secret.view())},
         {"quote", QuoteJson(v.quote)},
         {"wg_public_key", Base64Encode(v.wg_public_key)},
         {"hostname", v.hostname},
         {"endpoints", v.endpoints},
         {"csr", v.csr_pem}};
  if (v.token) j["token"] = *v.token;
  return j.dump();
}

Result<EnrollFinishRequest> ParseEnrollFinishRequest(std::string_view text) {
  JsonReader r(text);
  EnrollFinishRequest v;
  v.challenge_id = r.String("challenge_id", 64);
  Bytes secret = r.B64("secret", 64);
  v.secret = SecretBytes(secret);
  if (!secret.empty()) sodium_memzero(secret.data(), secret.size());
  Status quote = ReadQuote(r, v.quote);
  v.wg_public_key = r.B64("wg_public_key", 32);
  v.hostname = r.String("hostname", 1024);  // CanonicalHostname: 253
  v.endpoints = r.StringList("endpoints", 8, 64);
  v.csr_pem = r.String("csr", 8192);
  v.token = r.OptString("token", 128);
  if (!r.ok()) return r.error();
  if (!quote.ok()) return quote.take_error();
  if (v.wg_public_key.size() != 32) {
    return MakeError(Code::kInvalidArgument, "invalid_request",
                     "wg_public_key: must be 32 bytes (a Curve25519 public key)");
  }
  TPMESH_ASSIGN_OR_RETURN(v.hostname, CanonicalHostname(v.hostname));
  for (const auto& e : v.endpoints) TPMESH_RETURN_IF_ERROR(ValidateEndpoint(e));
  return v;
}

std::string ToJson(const EnrollFinishResponse& v) {
  json j{{"status", v.status}, {"node_id", v.node_id}};
  if (v.status == "active") {
    j.update(json{{"overlay_address", v.overlay_address},
                  {"overlay_prefix", v.overlay_prefix},
                  {"mesh_prefix", v.mesh_prefix},
                  {"node_cert", v.node_cert_pem},
                  {"ca_bundle", v.ca_bundle_pem},
                  {"config_signing_key", Base64Encode(v.config_signing_key)},
                  {"generation", v.generation},
                  {"mtu", v.mtu},
                  {"peer_count", v.peer_count}});
  }
  return j.dump();
}

Result<EnrollFinishResponse> ParseEnrollFinishResponse(std::string_view text) {
  JsonReader r(text);
  EnrollFinishResponse v;
  v.status = r.String("status", 32);
  v.node_id = r.String("node_id", 64);
  if (!r.ok()) return r.error();
  if (v.status != "active") return v;
  v.overlay_address = r.String("overlay_address", 64);
  v.overlay_prefix = r.String("overlay_prefix", 64);
  v.mesh_prefix = r.String("mesh_prefix", 64);
  v.node_cert_pem = r.String("node_cert", 16384);
  v.ca_bundle_pem = r.String("ca_bundle", 65536);
  v.config_signing_key = r.B64("config_signing_key", 32);
  v.generation = r.Int("generation", 0, INT64_MAX);
  v.mtu = static_cast<int>(r.Int("mtu", 1280, 65535));
  v.peer_count = r.Int("peer_count", 0, INT64_MAX);
  if (!r.ok()) return r.error();
  return v;
}

namespace {

// The hostname as an error message may quote it: at most 64 characters,
// anything but printable ASCII shown as '?'.
std::string Shown(std::string_view h) {
  std::string out(h.substr(0, 64));
  for (char& c : out) {
    if (c < 0x20 || c > 0x7e) c = '?';
  }
  return h.size() > 64 ? out + "..." : out;
}

bool IsHexDigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

}  // namespace

Result<std::string> CanonicalHostname(std::string_view h) {
  auto bad = [&](const std::string& why) {
    return MakeError(Code::kInvalidArgument, "invalid_hostname",
                     "hostname '" + Shown(h) + "': " + why);
  };
  if (h.empty() || h.size() > 253) return bad("must be 1-253 characters");
  if (h.back() == '.') return bad("must not end with '.' (give the name without the trailing dot)");
  std::string out(h);
  size_t label = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    char& c = out[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c == '.') {
      if (label == 0) return bad("has an empty label");
      if (out[i - 1] == '-') return bad("a label may not end with '-'");
      label = 0;
      continue;
    }
    const bool ldh = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ldh) return bad("only letters, digits, '-' and '.' are allowed");
    if (c == '-' && label == 0) return bad("a label may not start with '-'");
    if (++label > 63) return bad("a label is longer than 63 characters");
  }
  if (out.back() == '-') return bad("a label may not end with '-'");
  if (out.find_first_not_of("0123456789.") == std::string::npos) {
    return bad("digits and dots only read as an IPv4 address; a hostname needs a letter");
  }
  if (out.size() == 20 && std::all_of(out.begin(), out.end(), IsHexDigit)) {
    return bad("20 hex digits read as a node id");
  }
  return out;
}

Status ValidateHostname(std::string_view h) {
  auto canonical = CanonicalHostname(h);
  if (!canonical.ok()) return canonical.take_error();
  return OkStatus();
}

Status ValidateEndpoint(std::string_view e) {
  auto hp = ParseHostPort(e, {}, "invalid_endpoint");
  if (hp.ok()) return OkStatus();
  Error err = hp.take_error();
  err.message = "endpoint '" + std::string(e.substr(0, 64)) + "': " + err.message +
                " ([v6addr]:port or v4addr:port)";
  return err;
}

}  // namespace tpmesh::proto
