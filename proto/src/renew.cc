#include "tpmesh/proto/renew.h"

#include <nlohmann/json.hpp>

#include "quote_json.h"
#include "tpmesh/json/reader.h"

namespace tpmesh::proto {

using nlohmann::json;

std::string ToJson(const RenewStartResponse& v) {
  return json{{"challenge_id", v.challenge_id},
              {"nonce", Base64Encode(v.nonce)},
              {"pcr_selection", PcrSelectionJson(v.pcr_selection)},
              {"expires_at", v.expires_at}}
      .dump();
}

Result<RenewStartResponse> ParseRenewStartResponse(std::string_view text) {
  JsonReader r(text);
  RenewStartResponse v;
  v.challenge_id = r.String("challenge_id", 64);
  v.nonce = r.B64("nonce", 64);
  v.expires_at = r.Int("expires_at", 0, INT64_MAX);
  if (!r.ok()) return r.error();
  TPMESH_ASSIGN_OR_RETURN(v.pcr_selection, ReadPcrSelection(r));
  return v;
}

std::string ToJson(const RenewFinishRequest& v) {
  return json{{"challenge_id", v.challenge_id}, {"quote", QuoteJson(v.quote)}, {"csr", v.csr_pem}}
      .dump();
}

Result<RenewFinishRequest> ParseRenewFinishRequest(std::string_view text) {
  JsonReader r(text);
  RenewFinishRequest v;
  v.challenge_id = r.String("challenge_id", 64);
  v.csr_pem = r.String("csr", 8192);
  Status quote = ReadQuote(r, v.quote);
  if (!r.ok()) return r.error();
  if (!quote.ok()) return quote.take_error();
  return v;
}

std::string ToJson(const RenewFinishResponse& v) {
  return json{
      {"node_id", v.node_id}, {"node_cert", v.node_cert_pem}, {"ca_bundle", v.ca_bundle_pem}}
      .dump();
}

Result<RenewFinishResponse> ParseRenewFinishResponse(std::string_view text) {
  JsonReader r(text);
  RenewFinishResponse v;
  v.node_id = r.String("node_id", 64);
  v.node_cert_pem = r.String("node_cert", 16384);
  v.ca_bundle_pem = r.String("ca_bundle", 65536);
  if (!r.ok()) return r.error();
  return v;
}

}  // namespace tpmesh::proto
