// Global options and dispatch (see Run in common.h); ctl/main.cc only wires
// in the real transport and clock.
#include <exception>
#include <ostream>

#include "ctl/common.h"

namespace tpmesh::ctl {
namespace {

// The exit codes of tpmeshctl, defined here and nowhere else (printed by
// --help; docs/operations.md, "Exit codes").
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;  // the request failed: refused, unreachable, bad answer
constexpr int kExitUsage = 2;   // bad command line or missing credentials; nothing was sent

constexpr const char* kExitCodeHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  the request failed: the authority refused it or was unreachable (stderr names the "
    "reason)\n"
    "  2  usage error (bad option or argument, missing credentials); nothing was sent\n";

int PrintError(std::ostream& err, const Error& e, int exit_code) {
  err << "tpmeshctl: " << Sanitize(e.reason) << ": " << Sanitize(e.message) << "\n";
  return exit_code;
}

// The deepest subcommand that was given, and its path ("tpmeshctl nodes").
CLI::App* Deepest(CLI::App& app, std::string& path) {
  CLI::App* a = &app;
  path = app.get_name();
  for (auto subs = a->get_subcommands(); !subs.empty(); subs = a->get_subcommands()) {
    a = subs.front();
    path += " " + a->get_name();
  }
  return a;
}

int UsageError(CLI::App& app, const CLI::ParseError& e, std::ostream& err) {
  std::string path;
  CLI::App* at = Deepest(app, path);
  std::string message = e.what();
  if (at->get_require_subcommand_min() > 0 && at->get_subcommands().empty()) {
    message = "'" + path + "' needs one of these commands:";  // none given, or an unknown one
    for (const CLI::App* sub : at->get_subcommands([](CLI::App*) { return true; })) {
      message += " " + sub->get_name();
    }
  }
  err << "tpmeshctl: usage: " << message << "\n"
      << "Run '" << path << " --help' for more information.\n";
  return kExitUsage;
}

int Execute(const Command& cmd, const GlobalOptions& opts, const Io& io) {
  auto request = cmd.build();
  if (!request.ok()) return PrintError(io.err, request.error(), kExitUsage);
  auto conn = ResolveConnection(opts);
  if (!conn.ok()) {
    return PrintError(io.err, conn.error(),
                      IsUsageReason(conn.error().reason) ? kExitUsage : kExitFailed);
  }
  auto api = io.connect(**conn);
  conn->reset();  // wipes the key copy we hold
  if (!api.ok()) return PrintError(io.err, api.error(), kExitFailed);
  auto response = (*api)->Send(*request);
  if (!response.ok()) return PrintError(io.err, response.error(), kExitFailed);
  if (opts.output == "json") {
    io.out << response->dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return kExitOk;
  }
  try {
    View view{io.out, io.now};
    if (auto st = cmd.render(*response, view); !st.ok())
      return PrintError(io.err, st.error(), kExitFailed);
  } catch (const json::exception& e) {
    return PrintError(
        io.err,
        MakeError(Code::kInternal, "bad_response",
                  std::string("unexpected response from the authority (try -o json): ") + e.what()),
        kExitFailed);
  }
  return kExitOk;
}

}  // namespace

int Run(const std::vector<std::string>& args, const Io& io) {
  try {
    CLI::App app{
        "tpmeshctl: administer a tpmesh authority (nodes, enrollment tokens, EK allowlist, "
        "PCR policies, key rotation, audit log) over its admin API with mutual TLS",
        "tpmeshctl"};
    app.fallthrough();  // global options may also follow the subcommand
    app.require_subcommand(1);
    app.set_version_flag("--version", TPMESH_VERSION);
    app.footer(kExitCodeHelp);
    GlobalOptions opts;
    app.add_option("--authority", opts.authority, "authority URL, e.g. https://[fd00::1]:8443")
        ->envname("TPMESH_AUTHORITY");
    app.add_option("--admin-dir", opts.admin_dir,
                   "directory with ca.crt, admin.crt, admin.key (the authority's state dir)")
        ->envname("TPMESH_ADMIN_DIR");
    app.add_option("--ca", opts.ca, "CA certificate file (overrides DIR/ca.crt)");
    app.add_option("--cert", opts.cert, "admin certificate file (overrides DIR/admin.crt)");
    app.add_option("--key", opts.key, "admin private key file (overrides DIR/admin.key)");
    app.add_option("-o,--output", opts.output, "output format: table or json (raw response)")
        ->check(CLI::IsMember({"table", "json"}))
        ->capture_default_str();

    Registry registry;
    AddNodesCommands(app, registry);
    AddTokensCommands(app, registry);
    AddEkCommands(app, registry);
    AddPolicyCommands(app, registry);
    AddAuditCommands(app, registry);
    AddStatusCommands(app, registry);
    AddKeysCommands(app, registry);

    try {
      std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 wants them reversed
      app.parse(std::move(reversed));
    } catch (const CLI::ParseError& e) {
      if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) {
        return app.exit(e, io.out, io.err);  // --help, --version
      }
      return UsageError(app, e, io.err);
    }
    const Command* cmd = registry.Selected();
    if (cmd == nullptr) {  // not reachable with require_subcommand, but be safe
      io.err << app.help();
      return kExitUsage;
    }
    return Execute(*cmd, opts, io);
  } catch (const std::exception& e) {
    io.err << "tpmeshctl: internal: " << e.what() << "\n";
    return kExitFailed;
  }
}

}  // namespace tpmesh::ctl
