#include "json_reader.h"

namespace tpmesh::proto {

using nlohmann::json;

JsonReader::JsonReader(std::string_view text) {
  owned_ = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (owned_.is_discarded()) {
    error_ = "body is not valid JSON";
  } else if (!owned_.is_object()) {
    error_ = "body must be a JSON object";
  } else {
    obj_ = &owned_;
  }
}

JsonReader::JsonReader(const json& object, std::string prefix) : prefix_(std::move(prefix)) {
  if (object.is_object()) obj_ = &object;
  else error_ = prefix_ + ": must be an object";
}

void JsonReader::Fail(const std::string& field, const std::string& problem) {
  if (!error_) error_ = field + ": " + problem;
}

Error JsonReader::error() const {
  return MakeError(Code::kInvalidArgument, "invalid_request", error_.value_or("invalid request"));
}

const json* JsonReader::Find(const char* field, bool required) {
  if (!obj_) return nullptr;
  auto it = obj_->find(field);
  if (it == obj_->end() || it->is_null()) {
    if (required) Fail(Name(field), "required field missing");
    return nullptr;
  }
  return &*it;
}

const json* JsonReader::Raw(const char* field) { return Find(field, false); }

std::optional<std::string> JsonReader::OptString(const char* field, size_t max_len) {
  const json* v = Find(field, false);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    Fail(Name(field), "must be a string");
    return std::nullopt;
  }
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) {
    Fail(Name(field), "longer than " + std::to_string(max_len) + " characters");
    return std::nullopt;
  }
  return s;
}

std::string JsonReader::String(const char* field, size_t max_len) {
  if (!Find(field, true)) return {};
  return OptString(field, max_len).value_or("");
}

int64_t JsonReader::Int(const char* field, int64_t min, int64_t max) {
  const json* v = Find(field, true);
  if (!v) return 0;
  if (!v->is_number_integer()) {
    Fail(Name(field), "must be an integer");
    return 0;
  }
  int64_t x = v->get<int64_t>();
  if (x < min || x > max) {
    Fail(Name(field), "out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    return 0;
  }
  return x;
}

std::optional<Bytes> JsonReader::OptB64(const char* field, size_t max_len) {
  auto s = OptString(field, max_len * 4 / 3 + 4);
  if (!s) return std::nullopt;
  auto b = Base64Decode(*s, Name(field));
  if (!b.ok()) {
    Fail(Name(field), "not valid padded base64");
    return std::nullopt;
  }
  return std::move(*b);
}

Bytes JsonReader::B64(const char* field, size_t max_len) {
  if (!Find(field, true)) return {};
  return OptB64(field, max_len).value_or(Bytes{});
}

std::vector<std::string> JsonReader::StringList(const char* field, size_t max_items,
                                                size_t max_len) {
  std::vector<std::string> out;
  const json* v = Find(field, false);
  if (!v) return out;
  if (!v->is_array() || v->size() > max_items) {
    Fail(Name(field), "must be an array of at most " + std::to_string(max_items) + " strings");
    return out;
  }
  for (const auto& item : *v) {
    if (!item.is_string() || item.get_ref<const std::string&>().size() > max_len) {
      Fail(Name(field), "items must be strings of at most " + std::to_string(max_len) + " characters");
      return {};
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<Bytes> JsonReader::B64List(const char* field, size_t max_items, size_t max_len) {
  std::vector<Bytes> out;
  for (const auto& s : StringList(field, max_items, max_len * 4 / 3 + 4)) {
    auto b = Base64Decode(s, Name(field));
    if (!b.ok()) {
      Fail(Name(field), "items must be valid padded base64");
      return {};
    }
    out.push_back(std::move(*b));
  }
  return out;
}

JsonReader JsonReader::Object(const char* field) {
  const json* v = Find(field, true);
  static const json kEmpty = json::object();
  JsonReader r(v ? *v : kEmpty, Name(field) + ".");
  if (v && !v->is_object()) Fail(Name(field), "must be an object");
  return r;
}

}  // namespace tpmesh::proto
