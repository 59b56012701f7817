// tpmeshctl internals shared by the subcommand files (ctl/<group>.cc).
//
// Every command is one admin API request: a Command builds the Request from
// its parsed arguments (client-side validation; an error here is a usage
// error, exit 2, and nothing is sent), the request goes through an AdminApi
// (ctl/connect.cc implements it over net::Client with mutual TLS; tests use a
// fake), and the Command renders the JSON response for people. With
// `-o json` the response is printed as is (pretty) instead.
//
// Everything here is pure (no network, no clock reads): tests drive Run()
// with a fake AdminApi and a fixed `now`.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tpmesh/common/result.h"

namespace tpmesh::ctl {

using nlohmann::json;

// ---- requests and transport -------------------------------------------------

struct Request {
  std::string method;        // "GET", "POST", "DELETE"
  std::string path;          // "/v1/admin/...", segments percent-encoded, may carry "?query"
  std::optional<json> body;  // POST body
};

// A POST whose body is a proto/admin_requests.h type, printed by its
// proto::ToJson (found by argument-dependent lookup).
template <typename T>
Request PostRequest(std::string path, const T& body) {
  return Request{"POST", std::move(path), json::parse(ToJson(body), nullptr, false)};
}

// Sends one request; returns the parsed body of a 2xx response, or the
// authority's error (reason/message from its {"error": {...}} body).
class AdminApi {
 public:
  virtual ~AdminApi() = default;
  [[nodiscard]] virtual Result<json> Send(const Request& request) = 0;
};

// Where and how to connect. key_pem is secret: wiped on destruction.
struct Connection {
  std::string base_url;
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();
};

using Connector = std::function<Result<std::unique_ptr<AdminApi>>(const Connection&)>;

// Global options (main app), filled by CLI11 (also from the environment).
struct GlobalOptions {
  std::string authority;  // --authority / TPMESH_AUTHORITY
  std::string admin_dir;  // --admin-dir / TPMESH_ADMIN_DIR
  std::string ca, cert, key;
  std::string output = "table";
};

// Reads the credentials named by the options: explicit --ca/--cert/--key
// win over the files in --admin-dir (ca.crt, admin.crt, admin.key).
// Errors: reason "missing_authority"/"missing_credentials"/"invalid_authority"
// (usage errors: say which option or environment variable to set) and
// "cannot_read_file" (names the file and where its path came from).
[[nodiscard]] Result<std::unique_ptr<Connection>> ResolveConnection(const GlobalOptions& options);
inline bool IsUsageReason(const std::string& reason) {
  return reason == "missing_authority" || reason == "missing_credentials" ||
         reason == "invalid_authority";
}

// ---- commands ---------------------------------------------------------------

// What a renderer may use: the stream and the current time (unix seconds).
struct View {
  std::ostream& out;
  int64_t now;
};

// Renders a response for people. A typed renderer (Typed) reads the response
// through its proto/ type first: a response that does not parse is an error
// ("bad_response", exit 1), never a table of blanks. A raw renderer reads the
// JSON with the tolerant accessors below.
using Render = std::function<Status(const json& response, View& view)>;
struct TypedRender {
  Render fn;
};
class Renderer {
 public:
  // Any callable void(const json&, View&).
  template <typename F,
            typename = std::enable_if_t<std::is_invocable_v<const F&, const json&, View&> &&
                                        !std::is_same_v<std::decay_t<F>, Renderer>>>
  Renderer(F raw)  // NOLINT(google-explicit-constructor)
      : fn_([raw = std::move(raw)](const json& r, View& v) -> Status {
          raw(r, v);
          return OkStatus();
        }) {}
  Renderer(TypedRender typed) : fn_(std::move(typed.fn)) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] Status operator()(const json& response, View& view) const {
    return fn_(response, view);
  }

 private:
  Render fn_;
};

struct Command {
  std::function<Result<Request>()> build;  // validation; errors -> exit 2
  Renderer render;                         // table output
};

// A renderer over `T`, the response's type in proto/ (parsed by `parse`).
template <typename T>
TypedRender Typed(Result<T> (*parse)(std::string_view), std::function<void(const T&, View&)> fn) {
  return {[parse, fn](const json& response, View& view) -> Status {
    auto typed = parse(response.dump(-1, ' ', false, json::error_handler_t::replace));
    if (!typed.ok()) {
      return MakeError(
          Code::kInternal, "bad_response",
          "unexpected response from the authority (try -o json): " + typed.error().message);
    }
    fn(*typed, view);
    return OkStatus();
  }};
}

// Collects the leaf subcommands the group files register.
class Registry {
 public:
  void Add(CLI::App* leaf, Command command);
  // The command whose subcommand was parsed, or nullptr.
  const Command* Selected() const;

 private:
  std::vector<std::pair<CLI::App*, Command>> commands_;
};

// One function per group file (like wireguard-tools' subcommands).
void AddNodesCommands(CLI::App& root, Registry& registry);
void AddTokensCommands(CLI::App& root, Registry& registry);
void AddEkCommands(CLI::App& root, Registry& registry);
void AddPolicyCommands(CLI::App& root, Registry& registry);
void AddAuditCommands(CLI::App& root, Registry& registry);
void AddStatusCommands(CLI::App& root, Registry& registry);
void AddKeysCommands(CLI::App& root, Registry& registry);  // also the top-level `rotate`

struct Io {
  std::ostream& out;
  std::ostream& err;
  int64_t now;        // unix seconds, for relative ages
  Connector connect;  // called only after the request was built
};

// The whole CLI: parses `args` (without the program name), runs the selected
// command. Returns the exit code: 0 ok, 1 request failed ("tpmeshctl:
// <reason>: <message>" on err), 2 usage error. Never throws.
int Run(const std::vector<std::string>& args, const Io& io);

// ---- argument parsing (pure) ------------------------------------------------

// A client-side validation error (kInvalidArgument with `reason`).
Error Invalid(std::string reason, std::string message);

// "90", "90s", "15m", "1h", "7d" -> seconds (> 0). reason "invalid_ttl".
[[nodiscard]] Result<int64_t> ParseDuration(std::string_view text);

struct PcrArg {
  uint32_t index = 0;
  std::string hex;  // 64 lowercase hex digits (SHA-256)
};
// "7=<64 hex>" (index 0-23). reason "invalid_pcr".
[[nodiscard]] Result<PcrArg> ParsePcrArg(std::string_view text);

// A SHA-256 fingerprint: 64 hex digits, any case, ':' separators and a
// "sha256:" prefix allowed -> 64 lowercase hex. reason "invalid_ek_sha256".
[[nodiscard]] Result<std::string> NormalizeSha256(std::string_view text);

// A name used as one URL path segment (node id/hostname, policy name): 1-253
// bytes, no '/', no control characters. reason "invalid_<what>".
[[nodiscard]] Result<std::string> CheckPathName(std::string_view text, const std::string& what);

// Percent-encodes everything outside RFC 3986 unreserved characters.
std::string EncodePathSegment(std::string_view s);

// ---- output helpers (pure) --------------------------------------------------

// Replaces terminal control characters (C0, DEL, C1) with '?': server data
// must not be able to drive the terminal.
std::string Sanitize(std::string_view s);

// Columns padded to the widest cell (UTF-8 code points), separated by three
// spaces; the last column is not padded, so lines have no trailing blanks.
// Cells are sanitized; empty cells print as "-".
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  void AddRow(std::vector<std::string> cells);
  std::string Render() const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// "key:   value" lines, keys padded to the longest; values sanitized,
// empty values print as "-".
std::string RenderFields(const std::vector<std::pair<std::string, std::string>>& fields);

// A free-text --reason/--comment: at most 1000 bytes, no control characters.
// reason "invalid_<what>".
[[nodiscard]] Result<std::string> CheckText(const std::string& text, const std::string& what);
// True if `s` has something other than blanks.
bool HasText(std::string_view s);

// "45s", "5m", "3h", "12d" (truncated to the largest unit).
std::string FormatSpan(int64_t seconds);
// "5m ago", "in 3h", "now"; "never" for t <= 0.
std::string FormatAge(int64_t t, int64_t now);
// For deadlines: "in 3d" while t is ahead, "due" once reached; "-" for t <= 0.
std::string FormatUntil(int64_t t, int64_t now);
// "2024-05-01 12:00:00 UTC"; "never" for t <= 0.
std::string FormatTime(int64_t t);

// Tolerant accessors for response JSON: missing keys or other types give
// "" / 0 / an empty array instead of throwing.
std::string JStr(const json& j, const char* key);
int64_t JInt(const json& j, const char* key);
const json& JArr(const json& j, const char* key);
std::string Join(const json& string_array, const char* sep);

}  // namespace tpmesh::ctl
