#include "tpmesh/json/reader.h"

namespace tpmesh {

using nlohmann::json;

namespace {

std::string Limit(size_t n) { return std::to_string(n); }

}  // namespace

JsonReader::JsonReader(std::string_view text, size_t max_bytes, std::string what)
    : what_(std::move(what)), error_(std::make_shared<std::optional<std::string>>()) {
  if (text.size() > max_bytes) {
    *error_ = what_ + ": larger than " + Limit(max_bytes) + " bytes";
    return;
  }
  owned_ = std::make_shared<json>(json::parse(text.begin(), text.end(), nullptr,
                                              /*allow_exceptions=*/false));
  if (owned_->is_discarded()) {
    *error_ = what_ + ": not valid JSON";
  } else if (!owned_->is_object()) {
    *error_ = what_ + ": must be a JSON object";
  } else {
    obj_ = owned_.get();
  }
}

JsonReader::JsonReader(const json& object, std::string prefix)
    : JsonReader(&object, std::move(prefix), std::make_shared<std::optional<std::string>>()) {}

JsonReader::JsonReader(const json* object, std::string prefix,
                       std::shared_ptr<std::optional<std::string>> error)
    : prefix_(std::move(prefix)), error_(std::move(error)) {
  if (object && object->is_object())
    obj_ = object;
  else
    Fail("", "must be an object");
}

std::string JsonReader::Name(std::string_view field) const {
  if (field.empty()) return prefix_.empty() ? what_ : prefix_;
  return prefix_.empty() ? std::string(field) : prefix_ + "." + std::string(field);
}

void JsonReader::Fail(std::string_view field, const std::string& problem) {
  if (ok()) *error_ = Name(field) + ": " + problem;
}

Error JsonReader::error() const {
  return MakeError(Code::kInvalidArgument, "invalid_request", message());
}

const json* JsonReader::Find(const char* field, bool required) {
  if (!obj_ || !ok()) return nullptr;
  auto it = obj_->find(field);
  if (it == obj_->end() || it->is_null()) {
    if (required) Fail(field, "required field missing");
    return nullptr;
  }
  return &*it;
}

const json* JsonReader::Raw(const char* field) { return Find(field, false); }
const json* JsonReader::Required(const char* field) { return Find(field, true); }

std::optional<std::string> JsonReader::OptString(const char* field, size_t max_len) {
  const json* v = Find(field, false);
  if (!v) return std::nullopt;
  if (!v->is_string()) {
    Fail(field, "must be a string");
    return std::nullopt;
  }
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) {
    Fail(field, "longer than " + Limit(max_len) + " characters");
    return std::nullopt;
  }
  return s;
}

std::string JsonReader::String(const char* field, size_t max_len) {
  if (!Find(field, true)) return {};
  return OptString(field, max_len).value_or("");
}

int64_t JsonReader::Int(const char* field, int64_t min, int64_t max) {
  if (!Find(field, true)) return 0;
  return OptInt(field, min, max).value_or(0);
}

std::optional<uint64_t> JsonReader::OptUint(const char* field, uint64_t max) {
  const json* v = Find(field, false);
  if (!v) return std::nullopt;
  if (!v->is_number_unsigned() && !(v->is_number_integer() && v->get<int64_t>() >= 0)) {
    Fail(field, "must be a non-negative integer");
    return std::nullopt;
  }
  uint64_t x = v->get<uint64_t>();
  if (x > max) {
    Fail(field, "out of range [0, " + std::to_string(max) + "]");
    return std::nullopt;
  }
  return x;
}

std::optional<bool> JsonReader::OptBool(const char* field) {
  const json* v = Find(field, false);
  if (!v) return std::nullopt;
  if (!v->is_boolean()) {
    Fail(field, "must be true or false");
    return std::nullopt;
  }
  return v->get<bool>();
}

std::optional<int64_t> JsonReader::OptInt(const char* field, int64_t min, int64_t max) {
  const json* v = Find(field, false);
  if (!v) return std::nullopt;
  if (!v->is_number_integer()) {
    Fail(field, "must be an integer");
    return std::nullopt;
  }
  const std::string range =
      "out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    Fail(field, range);
    return std::nullopt;
  }
  int64_t x = v->get<int64_t>();
  if (x < min || x > max) {
    Fail(field, range);
    return std::nullopt;
  }
  return x;
}

std::optional<Bytes> JsonReader::OptB64(const char* field, size_t max_len) {
  auto s = OptString(field, max_len * 4 / 3 + 4);
  if (!s) return std::nullopt;
  auto b = Base64Decode(*s, Name(field));
  if (!b.ok()) {
    Fail(field, "not valid padded base64");
    return std::nullopt;
  }
  return std::move(*b);
}

Bytes JsonReader::B64(const char* field, size_t max_len) {
  if (!Find(field, true)) return {};
  return OptB64(field, max_len).value_or(Bytes{});
}

std::optional<Bytes> JsonReader::OptB64Exact(const char* field, size_t len) {
  const json* v = Find(field, false);
  if (!v) return std::nullopt;
  if (!v->is_string() || v->get_ref<const std::string&>().size() > 4 * len) {
    Fail(field, "must be a base64 string of " + Limit(len) + " bytes");
    return std::nullopt;
  }
  auto b = Base64Decode(v->get_ref<const std::string&>(), Name(field));
  if (!b.ok()) {
    Fail(field, "not valid padded base64");
    return std::nullopt;
  }
  if (b->size() != len) {
    Fail(field, "must be " + Limit(len) + " bytes, got " + Limit(b->size()));
    return std::nullopt;
  }
  return std::move(*b);
}

Bytes JsonReader::B64Exact(const char* field, size_t len) {
  if (!Find(field, true)) return {};
  return OptB64Exact(field, len).value_or(Bytes{});
}

const json* JsonReader::Array(const char* field, size_t max_items) {
  const json* v = Find(field, true);
  if (v && (!v->is_array() || v->size() > max_items)) {
    Fail(field, "must be an array of at most " + Limit(max_items) + " items");
    return nullptr;
  }
  return v;
}

std::vector<std::string> JsonReader::StringList(const char* field, size_t max_items, size_t max_len,
                                                bool required) {
  std::vector<std::string> out;
  if (!required && !Find(field, false)) return out;
  const json* v = Array(field, max_items);
  if (!v) return out;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    if (!item.is_string() || item.get_ref<const std::string&>().size() > max_len) {
      Fail(std::string(field) + "[" + Limit(i) + "]",
           "must be a string of at most " + Limit(max_len) + " characters");
      return {};
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::vector<Bytes> JsonReader::B64List(const char* field, size_t max_items, size_t max_len) {
  std::vector<Bytes> out;
  std::vector<std::string> texts = StringList(field, max_items, max_len * 4 / 3 + 4);
  for (size_t i = 0; i < texts.size(); ++i) {
    auto b = Base64Decode(texts[i], Name(field));
    if (!b.ok()) {
      Fail(std::string(field) + "[" + Limit(i) + "]", "not valid padded base64");
      return {};
    }
    out.push_back(std::move(*b));
  }
  return out;
}

std::optional<std::vector<Bytes>> JsonReader::OptB64ExactList(const char* field, size_t max_items,
                                                              size_t len) {
  if (!Find(field, false)) return std::nullopt;
  const json* v = Array(field, max_items);
  if (!v) return std::nullopt;
  std::vector<Bytes> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    const std::string name = Name(std::string(field) + "[" + Limit(i) + "]");
    auto b = item.is_string() && item.get_ref<const std::string&>().size() <= 4 * len
                 ? Base64Decode(item.get_ref<const std::string&>(), name)
                 : Result<Bytes>(Error{});
    if (!b.ok() || b->size() != len) {
      Fail(std::string(field) + "[" + Limit(i) + "]",
           "must be a base64 string of " + Limit(len) + " bytes");
      return std::nullopt;
    }
    out.push_back(std::move(*b));
  }
  return out;
}

JsonReader JsonReader::Object(const char* field) {
  const json* v = Find(field, true);
  if (!v) return JsonReader(nullptr, Name(field), error_);
  return JsonReader(v, Name(field), error_);
}

JsonReader JsonReader::Item(const json& item, const std::string& path) {
  return JsonReader(&item, Name(path), error_);
}

}  // namespace tpmesh
