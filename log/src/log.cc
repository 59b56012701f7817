#include "tpmesh/log/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace tpmesh::log {
namespace {

const char* Name(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

spdlog::level::level_enum SpdLevel(Level l) {
  switch (l) {
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
  }
  return spdlog::level::info;
}

// Bounded, printable ASCII; everything else as \xNN.
void AppendEscaped(std::string& out, std::string_view s, size_t max = kMaxValue) {
  static const char kHex[] = "0123456789abcdef";
  const bool cut = s.size() > max;
  for (unsigned char c : s.substr(0, max)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (cut) out += "...";
}

void AppendValue(std::string& out, std::string_view v) {
  const bool quote = v.empty() || v.find_first_of(" \t\"=") != std::string_view::npos;
  if (!quote) return AppendEscaped(out, v);
  out += '"';
  std::string escaped;
  AppendEscaped(escaped, v);
  for (char c : escaped) {
    if (c == '"') out += '\\';
    out += c;
  }
  out += '"';
}

class SpdLogger final : public Logger {
 public:
  SpdLogger(const std::string& program, Level min) : min_(min) {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    logger_ = std::make_shared<spdlog::logger>(program, sink);
    logger_->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc);
    logger_->set_level(SpdLevel(min));
    logger_->flush_on(spdlog::level::debug);  // every line reaches the journal at once
  }
  bool Enabled(Level level) const override { return level >= min_; }
  void Write(Level level, std::string_view message, const std::vector<Field>& fields) override {
    if (!Enabled(level)) return;
    logger_->log(SpdLevel(level), "{}", FormatLine(level, message, fields));
  }

 private:
  Level min_;
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace

std::string FormatLine(Level level, std::string_view message, const std::vector<Field>& fields) {
  std::string out = Name(level);
  out += ' ';
  AppendEscaped(out, message, kMaxMessage);
  for (const Field& f : fields) {
    out += ' ';
    out += f.key;
    out += '=';
    AppendValue(out, f.value);
  }
  return out;
}

std::shared_ptr<Logger> StderrLogger(const std::string& program, Level min) {
  return std::make_shared<SpdLogger>(program, min);
}

void MemoryLogger::Write(Level level, std::string_view message, const std::vector<Field>& fields) {
  std::lock_guard<std::mutex> lock(mu_);
  lines_.push_back(FormatLine(level, message, fields));
}

std::vector<std::string> MemoryLogger::lines() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lines_;
}

std::function<void(const std::string&)> AsLogFn(std::shared_ptr<Logger> logger, Level level) {
  return [logger = std::move(logger), level](const std::string& line) {
    if (logger->Enabled(level)) logger->Write(level, line, {});
  };
}

bool ParseLevel(std::string_view text, Level& out) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (text == Name(l)) {
      out = l;
      return true;
    }
  }
  return false;
}

}  // namespace tpmesh::log
