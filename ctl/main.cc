// tpmeshctl: the authority's admin CLI. Thin: global options, dispatch and
// the subcommands live in tpmeshctl_lib (ctl/cli.cc, ctl/<group>.cc); this
// only supplies the real transport and clock.
#include <signal.h>

#include <iostream>
#include <string>
#include <vector>

#include "ctl/common.h"
#include "ctl/connect.h"
#include "tpmesh/common/env.h"

int main(int argc, char** argv) {
  // A dropped connection must be an error we report, not a silent death by
  // SIGPIPE (exit 141) inside a TLS write.
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + (argc > 0 ? 1 : 0), argv + argc);
  const tpmesh::ctl::Io io{std::cout, std::cerr,
                           tpmesh::ToUnixSeconds(tpmesh::SystemClock::Instance().Now()),
                           tpmesh::ctl::ConnectHttps};
  return tpmesh::ctl::Run(args, io);
}
