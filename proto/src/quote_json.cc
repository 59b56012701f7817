#include "quote_json.h"

namespace tpmesh::proto {

using nlohmann::json;

namespace {
constexpr size_t kMaxTpmStruct = 4096;
}  // namespace

json PcrSelectionJson(const attest::PcrSelection& s) {
  return json{{"bank", attest::HashAlgName(s.bank)}, {"pcrs", s.pcrs}};
}

json PcrValuesJson(const attest::PcrValues& v) {
  json out = json::object();
  for (const auto& [pcr, value] : v) out[std::to_string(pcr)] = Base64Encode(value);
  return out;
}

attest::PcrValues ReadPcrValues(JsonReader& r, const char* field) {
  attest::PcrValues out;
  const json* v = r.Required(field);
  if (!v) return out;
  if (!v->is_object() || v->size() > 24) {
    r.Fail(field, "must be an object of at most 24 PCRs");
    return out;
  }
  for (const auto& [key, value] : v->items()) {
    uint32_t index = 0;
    bool digits =
        !key.empty() && key.size() <= 2 && key.find_first_not_of("0123456789") == std::string::npos;
    if (digits) index = static_cast<uint32_t>(std::stoul(key));
    if (!digits || index >= 24) {
      r.Fail(field, "key '" + key.substr(0, 8) + "' is not a PCR index 0-23");
      return {};
    }
    Bytes b;
    if (value.is_string()) {
      auto d = Base64Decode(value.get_ref<const std::string&>());
      if (d.ok() && d->size() <= 64) b = std::move(*d);
    }
    if (b.empty()) {
      r.Fail(std::string(field) + "." + key, "must be base64 of a PCR value");
      return {};
    }
    out[index] = std::move(b);
  }
  return out;
}

Result<attest::PcrSelection> ReadPcrSelection(JsonReader& outer) {
  JsonReader r = outer.Object("pcr_selection");
  if (!outer.ok()) return outer.error();
  auto bank_name = r.String("bank", 16);
  std::vector<uint32_t> pcrs;
  if (const json* p = r.Raw("pcrs"); p && p->is_array() && p->size() <= 24) {
    for (const auto& x : *p) {
      if (!x.is_number_unsigned())
        return MakeError(Code::kInvalidArgument, "invalid_request",
                         "pcr_selection.pcrs: must be PCR indices");
      pcrs.push_back(x.get<uint32_t>());
    }
  } else {
    r.Fail("pcrs", "must be an array of PCR indices");
  }
  if (!r.ok()) return r.error();
  TPMESH_ASSIGN_OR_RETURN(auto bank, attest::ParseHashAlg(bank_name));
  return attest::MakePcrSelection(bank, std::move(pcrs));
}

json QuoteJson(const attest::QuoteEvidence& q) {
  return json{{"attest", Base64Encode(q.attest)},
              {"signature", Base64Encode(q.signature)},
              {"pcrs", PcrValuesJson(q.pcr_values)}};
}

Status ReadQuote(JsonReader& outer, attest::QuoteEvidence& out) {
  JsonReader q = outer.Object("quote");
  if (!outer.ok()) return outer.error();
  out.attest = q.B64("attest", kMaxTpmStruct);
  out.signature = q.B64("signature", kMaxTpmStruct);
  out.pcr_values = ReadPcrValues(q, "pcrs");
  if (!q.ok()) return q.error();
  return OkStatus();
}

}  // namespace tpmesh::proto
