// The one logging interface of tpmesh's programs: levels, UTC timestamps and
// key=value fields, one line per event on stderr (journald keeps it as is).
//
//   2026-12-03T14:00:00.123Z info enrollment admitted node=1a2b... source=[2001:db8::7]:51234
//
// Lines are bounded and safe to write from untrusted input: the message is
// cut at kMaxMessage bytes and each value at kMaxValue, control characters and non-ASCII
// bytes are escaped (\xNN), values with blanks, '"' or '=' are quoted.
// Libraries do not log on their own; they take a Logger (or a LogFn made by
// AsLogFn) from the program.
//
// Thread-safety: Logger implementations are thread-safe.
#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tpmesh::log {

enum class Level { kDebug, kInfo, kWarn, kError };

inline constexpr size_t kMaxValue = 512;     // bytes of one field value
inline constexpr size_t kMaxMessage = 4096;  // bytes of the message

struct Field {
  std::string_view key;  // [a-z0-9_]; not escaped
  std::string value;
};

class Logger {
 public:
  virtual ~Logger() = default;
  virtual void Write(Level level, std::string_view message, const std::vector<Field>& fields) = 0;
  virtual bool Enabled(Level level) const = 0;

  void Debug(std::string_view m, std::initializer_list<Field> f = {}) { Log(Level::kDebug, m, f); }
  void Info(std::string_view m, std::initializer_list<Field> f = {}) { Log(Level::kInfo, m, f); }
  void Warn(std::string_view m, std::initializer_list<Field> f = {}) { Log(Level::kWarn, m, f); }
  void Error(std::string_view m, std::initializer_list<Field> f = {}) { Log(Level::kError, m, f); }

 private:
  void Log(Level level, std::string_view m, std::initializer_list<Field> f) {
    if (Enabled(level)) Write(level, m, std::vector<Field>(f));
  }
};

// One line as the stderr logger writes it after the timestamp:
// "<level> <message> key=value ...". Pure; for tests and other sinks.
std::string FormatLine(Level level, std::string_view message, const std::vector<Field>& fields);

// stderr through spdlog, at `min` and above. `program` prefixes nothing (the
// journal records it); it names the spdlog logger.
std::shared_ptr<Logger> StderrLogger(const std::string& program, Level min = Level::kInfo);

// Keeps every line in memory (tests).
class MemoryLogger final : public Logger {
 public:
  void Write(Level level, std::string_view message, const std::vector<Field>& fields) override;
  bool Enabled(Level) const override { return true; }
  std::vector<std::string> lines() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> lines_;
};

// A plain-text callback (the LogFn that libraries take) that writes to
// `logger` at `level`. `logger` is shared by the callback.
std::function<void(const std::string&)> AsLogFn(std::shared_ptr<Logger> logger,
                                                Level level = Level::kInfo);

// "debug", "info", "warn", "error" -> Level; false if none of them.
bool ParseLevel(std::string_view text, Level& out);

}  // namespace tpmesh::log
