#include "tpmesh/client/token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace tpmesh::client {
namespace {

constexpr size_t kMaxTokenFile = 4096;

Error Usage(const std::string& message) {
  return MakeError(Code::kInvalidArgument, "usage", message);
}

// Closes the descriptor on every path.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Result<std::string> ReadTokenFile(const std::string& path) {
  // O_NONBLOCK: a FIFO must not hang the open; it is refused below.
  Fd f{open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)};
  if (f.fd < 0) return Usage("--token-file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (fstat(f.fd, &st) != 0) return Usage("--token-file " + path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Usage("--token-file " + path + ": not a regular file");
  if ((st.st_mode & 077) != 0) {
    return Usage("--token-file " + path + ": readable or writable by group or others (mode 0" +
                 std::to_string((st.st_mode >> 6) & 7) + std::to_string((st.st_mode >> 3) & 7) +
                 std::to_string(st.st_mode & 7) + "); run 'chmod 600 " + path +
                 "' and create a new token");
  }
  if (static_cast<size_t>(st.st_size) > kMaxTokenFile) {
    return Usage("--token-file " + path + ": larger than " + std::to_string(kMaxTokenFile) +
                 " bytes");
  }
  std::string text;
  char buf[512];
  for (;;) {
    ssize_t n = read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Usage("--token-file " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxTokenFile) {
      return Usage("--token-file " + path + ": larger than " + std::to_string(kMaxTokenFile) +
                   " bytes");
    }
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.find_first_of("\r\n") != std::string::npos) {
    return Usage("--token-file " + path +
                 ": holds more than one line; it must hold the token alone");
  }
  if (text.empty()) return Usage("--token-file " + path + ": empty");
  return text;
}

}  // namespace

Result<std::optional<std::string>> ResolveToken(const TokenSources& s) {
  std::vector<std::string> given;
  if (s.flag) given.push_back("--token");
  if (s.file) given.push_back("--token-file");
  if (s.env && !s.env->empty()) given.push_back("TPMESH_TOKEN");
  if (given.size() > 1) {
    std::string names;
    for (size_t i = 0; i < given.size(); ++i) {
      names += (i == 0 ? "" : i + 1 == given.size() ? " and " : ", ") + given[i];
    }
    return Usage("the enrollment token is given twice (" + names + "); give it once");
  }
  if (s.file) {
    TPMESH_ASSIGN_OR_RETURN(std::string t, ReadTokenFile(*s.file));
    return std::optional<std::string>(std::move(t));
  }
  if (s.env && !s.env->empty()) return std::optional<std::string>(*s.env);
  if (s.flag) {
    if (s.flag->empty()) return Usage("--token: empty");
    return std::optional<std::string>(*s.flag);
  }
  return std::optional<std::string>();
}

}  // namespace tpmesh::client
