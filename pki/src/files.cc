// Private files and directories: atomic 0600 writes, 0700 directories.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "tpmesh/common/bytes.h"
#include "tpmesh/pki/pki.h"

namespace tpmesh::pki {
namespace {

constexpr size_t kMaxReadBytes = 16 * 1024 * 1024;

Error IoError(const std::string& op, const std::string& path, int err) {
  Code code = (err == ENOENT || err == EACCES || err == EPERM || err == ENOTDIR || err == EROFS)
                  ? Code::kFailedPrecondition
                  : Code::kInternal;
  return MakeError(code, "file_io_failed", op + " " + path + ": " + std::strerror(err));
}

// Closes on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

std::string ModeOctal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return IoError("write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return OkStatus();
}

Status FsyncDir(const std::string& dir) {
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0) return IoError("open directory", dir, errno);
  if (::fsync(d.fd) != 0) return IoError("fsync directory", dir, errno);
  return OkStatus();
}

}  // namespace

Status WritePrivateFile(const std::string& path, std::string_view data) {
  std::filesystem::path p(path);
  if (!p.has_filename()) {
    return MakeError(Code::kInvalidArgument, "invalid_path", "'" + path + "': not a file path");
  }
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  std::array<uint8_t, 8> rnd{};
  SystemRandom::Instance().Fill(rnd);
  std::string tmp =
      (std::filesystem::path(dir) / ("." + p.filename().string() + ".tmp-" + HexEncode(rnd)))
          .string();

  Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)};
  if (f.fd < 0) return IoError("create", tmp, errno);
  auto fail = [&](Error e) {
    ::close(f.release());
    ::unlink(tmp.c_str());
    return e;
  };
  // The umask can only clear bits; set the mode exactly.
  if (::fchmod(f.fd, 0600) != 0) return fail(IoError("chmod", tmp, errno));
  if (auto st = WriteAll(f.fd, data, tmp); !st.ok()) return fail(st.take_error());
  if (::fsync(f.fd) != 0) return fail(IoError("fsync", tmp, errno));
  if (::close(f.release()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return IoError("close", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return IoError("rename to", path, err);
  }
  return FsyncDir(dir);
}

Status EnsurePrivateDir(const std::string& dir) {
  if (dir.empty())
    return MakeError(Code::kInvalidArgument, "invalid_path", "directory path is empty");
  // mkdir -p: every missing component is created 0700.
  std::filesystem::path target(dir);
  std::filesystem::path cur;
  for (const auto& part : target) {
    cur /= part;
    if (::mkdir(cur.c_str(), 0700) != 0 && errno != EEXIST)
      return IoError("mkdir", cur.string(), errno);
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) return IoError("stat", dir, errno);
  if (!S_ISDIR(st.st_mode)) {
    return MakeError(Code::kFailedPrecondition, "not_a_directory",
                     dir + " exists and is not a directory");
  }
  if ((st.st_mode & 077) != 0) {
    return MakeError(Code::kFailedPrecondition, "private_dir_permissions",
                     dir + " has mode " + ModeOctal(st.st_mode) +
                         " and is accessible by group or others; fix it with: chmod 700 " + dir);
  }
  return OkStatus();
}

Result<std::string> ReadFile(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) {
    if (errno == ENOENT)
      return MakeError(Code::kNotFound, "file_not_found", path + ": no such file");
    return IoError("open", path, errno);
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return IoError("stat", path, errno);
  if (static_cast<size_t>(st.st_size) > kMaxReadBytes) {
    return MakeError(Code::kFailedPrecondition, "file_too_large", path + ": larger than 16 MiB");
  }
  // Sized up front so a key file is not copied around by reallocation; the
  // bounce buffer is wiped.
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size) + 1);
  char buf[4096];
  Status status;
  while (true) {
    ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      status = IoError("read", path, errno);
      break;
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > kMaxReadBytes) {
      status =
          MakeError(Code::kFailedPrecondition, "file_too_large", path + ": larger than 16 MiB");
      break;
    }
  }
  sodium_memzero(buf, sizeof buf);
  if (!status.ok()) {
    sodium_memzero(out.data(), out.size());
    return status.take_error();
  }
  return out;
}

}  // namespace tpmesh::pki
