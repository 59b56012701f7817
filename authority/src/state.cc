#include "tpmesh/authority/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "store_util.h"

namespace tpmesh::authority {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFiles[] = {
    "authority.db",      "ca.crt",    "ca.key",    "server.crt",
    "server.key",        "admin.crt", "admin.key", "config-signing.key",
    "config-signing.pub"};
constexpr auto kCaLifetime = std::chrono::hours(24 * 365 * 10);
constexpr auto kServerLifetime = std::chrono::hours(24 * 365);
constexpr auto kAdminLifetime = std::chrono::hours(24 * 365);

std::string Path(const std::string& dir, const char* name) { return dir + "/" + name; }

// Removes what a failed init created, unless disarmed.
struct InitCleanup {
  std::string dir;
  bool armed = true;
  ~InitCleanup() {
    if (!armed) return;
    std::error_code ec;
    for (const char* f : kFiles) fs::remove(Path(dir, f), ec);
    fs::remove(Path(dir, "authority.db-wal"), ec);
    fs::remove(Path(dir, "authority.db-shm"), ec);
  }
};

Status WritePublicFile(const std::string& path, ByteView data) {
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(path, std::string(data.begin(), data.end())));
  if (chmod(path.c_str(), 0644) != 0) {
    return MakeError(Code::kInternal, "io_error", "chmod " + path + " failed");
  }
  return OkStatus();
}

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// A file that holds secret material: every key (also a rotation's .next and
// .old keys, and stray copies such as ca.key.bak) and the database with its
// WAL (challenge secrets, tokens' hashes, membership).
bool IsSecretFile(const std::string& name) {
  const bool key =
      name.size() > 4 && (name.ends_with(".key") || name.find(".key.") != std::string::npos);
  return key || name.starts_with("authority.db");
}

// Like EnsurePrivateDir for the directory: a secret readable or writable by
// group or others, or owned by another user, and any file group or others
// can change, are refused by name with the command that fixes them.
Status CheckStateFiles(const std::string& dir) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const std::string path = Path(dir, name.c_str());
    struct stat sb {};
    if (::stat(path.c_str(), &sb) != 0 || !S_ISREG(sb.st_mode))
      continue;  // the loaders report those
    if (IsSecretFile(name)) {
      if ((sb.st_mode & 077) != 0) {
        return MakeError(
            Code::kFailedPrecondition, "key_file_permissions",
            path + " has mode " + Octal(sb.st_mode) +
                " and is accessible by group or others, but holds secrets; fix it with: "
                "chmod 600 " +
                path + " (and treat what it holds as exposed)");
      }
      if (sb.st_uid != ::geteuid()) {
        const std::string me = std::to_string(::geteuid());
        return MakeError(Code::kFailedPrecondition, "key_file_owner",
                         path + " is owned by uid " + std::to_string(sb.st_uid) +
                             ", not by the authority's user (uid " + me +
                             "), who could not keep it "
                             "private; fix it with: chown " +
                             me + " " + path);
      }
    } else if ((sb.st_mode & 022) != 0) {
      return MakeError(Code::kFailedPrecondition, "state_file_permissions",
                       path + " has mode " + Octal(sb.st_mode) +
                           " and can be changed by group or others; fix it with: chmod go-w " +
                           path);
    }
  }
  if (ec) {
    return MakeError(Code::kFailedPrecondition, "state_unreadable",
                     "cannot list " + dir + ": " + ec.message());
  }
  return OkStatus();
}

// Before anything is created in `dir`: only `init` makes an authority, and a
// database that is missing or empty is not one (serve would otherwise open
// a new, empty database and fail on it).
Status CheckInitialized(const std::string& dir) {
  const std::string db = Path(dir, "authority.db");
  bool other_files = false;
  for (const char* f : kFiles)
    other_files = other_files || (std::string(f) != "authority.db" && fs::exists(Path(dir, f)));
  const std::string fix =
      other_files
          ? "; the directory holds authority keys, so restore authority.db from a backup, or "
            "run 'tpmesh-authority init --state-dir NEW_DIR' for a new authority (init "
            "refuses a directory that holds any authority file)"
          : "; run 'tpmesh-authority init --state-dir " + dir + "' first";
  struct stat sb {};
  if (::stat(db.c_str(), &sb) != 0) {
    if (errno != ENOENT) {
      return MakeError(Code::kFailedPrecondition, "state_unreadable",
                       "cannot stat " + db + ": " + std::strerror(errno));
    }
    return MakeError(Code::kFailedPrecondition, "store_missing",
                     dir + " holds no authority database (" + db + " does not exist)" + fix);
  }
  if (S_ISREG(sb.st_mode) && sb.st_size == 0) {
    return MakeError(Code::kFailedPrecondition, "store_empty",
                     db + " is empty (0 bytes): not an initialized authority database" + fix);
  }
  return OkStatus();
}

}  // namespace

Result<InitResult> InitState(const InitOptions& o, const Clock& clock, Random& rng) {
  if (o.state_dir.empty())
    return MakeError(Code::kInvalidArgument, "invalid_argument", "--state-dir is required");
  for (const char* f : kFiles) {
    if (fs::exists(Path(o.state_dir, f))) {
      return MakeError(Code::kAlreadyExists, "state_exists",
                       o.state_dir + " already holds an authority (" + f +
                           "); refusing to overwrite it. Use another --state-dir or remove it "
                           "deliberately.");
    }
  }
  MeshPrefix prefix = RandomUlaPrefix(rng);
  if (o.mesh_prefix) {
    TPMESH_ASSIGN_OR_RETURN(prefix, ParseMeshPrefix(*o.mesh_prefix));
  }
  TPMESH_RETURN_IF_ERROR(pki::EnsurePrivateDir(o.state_dir));
  InitCleanup cleanup{o.state_dir};

  const TimePoint now = clock.Now();
  TPMESH_ASSIGN_OR_RETURN(auto ca,
                          pki::AuthorityCa::Create("tpmesh authority CA", now, kCaLifetime));
  std::vector<std::string> names =
      o.server_names.empty() ? std::vector<std::string>{"localhost"} : o.server_names;
  std::vector<std::string> ips =
      o.server_ips.empty() ? std::vector<std::string>{"::1", "127.0.0.1"} : o.server_ips;
  TPMESH_ASSIGN_OR_RETURN(auto server, ca.IssueServerCert(names, ips, now, kServerLifetime));
  TPMESH_ASSIGN_OR_RETURN(auto admin, ca.IssueAdminCert(o.admin_name, now, kAdminLifetime));

  Bytes pk(crypto_sign_PUBLICKEYBYTES);
  SecretBytes sk(crypto_sign_SECRETKEYBYTES);
  crypto_sign_keypair(pk.data(), sk.data());

  std::string ca_key = ca.key_pem();
  Status st = pki::WritePrivateFile(Path(o.state_dir, "ca.key"), ca_key);
  sodium_memzero(ca_key.data(), ca_key.size());
  TPMESH_RETURN_IF_ERROR(st);
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path(o.state_dir, "ca.crt"), ca.cert_pem()));
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path(o.state_dir, "server.key"), server.key_pem));
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path(o.state_dir, "server.crt"), server.cert_pem + ca.cert_pem()));
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path(o.state_dir, "admin.key"), admin.key_pem));
  TPMESH_RETURN_IF_ERROR(pki::WritePrivateFile(Path(o.state_dir, "admin.crt"), admin.cert_pem));
  sodium_memzero(server.key_pem.data(), server.key_pem.size());
  sodium_memzero(admin.key_pem.data(), admin.key_pem.size());
  TPMESH_RETURN_IF_ERROR(
      pki::WritePrivateFile(Path(o.state_dir, "config-signing.key"),
                            std::string_view(reinterpret_cast<const char*>(sk.data()), sk.size())));
  TPMESH_RETURN_IF_ERROR(WritePublicFile(Path(o.state_dir, "config-signing.pub"), pk));

  TPMESH_ASSIGN_OR_RETURN(auto store, OpenSqliteStore(Path(o.state_dir, "authority.db")));
  TPMESH_RETURN_IF_ERROR(internal::InTx(*store, [&](Tx& tx) -> Status {
    TPMESH_RETURN_IF_ERROR(tx.SetMeta("mesh_prefix", prefix.ToString()));
    return tx.AppendAudit(
        AuditEntry{0, ToUnixSeconds(now), "system", "authority.init", "", "",
                   "mesh " + prefix.ToString() + ", CA sha256:" + ca.Fingerprint()});
  }));
  cleanup.armed = false;
  return InitResult{ca.Fingerprint(), prefix.ToString(), Path(o.state_dir, "admin.crt"),
                    Path(o.state_dir, "admin.key")};
}

StateDirLock::~StateDirLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

Result<LoadedState> LoadState(const std::string& dir) {
  struct stat sb {};
  if (stat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    return MakeError(
        Code::kFailedPrecondition, "state_missing",
        dir + " is not an authority state directory; run 'tpmesh-authority init' first");
  }
  TPMESH_RETURN_IF_ERROR(pki::EnsurePrivateDir(dir));
  TPMESH_RETURN_IF_ERROR(CheckStateFiles(dir));
  TPMESH_RETURN_IF_ERROR(CheckInitialized(dir));
  LoadedState s;
  const std::string lock_path = Path(dir, "authority.lock");
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return MakeError(Code::kFailedPrecondition, "state_unreadable",
                     "cannot open " + lock_path + ": " + std::strerror(errno));
  }
  s.lock = std::make_unique<StateDirLock>(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    return MakeError(Code::kFailedPrecondition, "state_dir_in_use",
                     dir + " is in use by another tpmesh-authority process (it holds " + lock_path +
                         "); one process owns an authority's database");
  }
  TPMESH_ASSIGN_OR_RETURN(s.cas, CaKeys::Load(dir));
  TPMESH_ASSIGN_OR_RETURN(s.signing, SigningKeys::Load(dir));
  TPMESH_ASSIGN_OR_RETURN(s.store, OpenExistingSqliteStore(Path(dir, "authority.db")));
  TPMESH_ASSIGN_OR_RETURN(std::optional<std::string> prefix, internal::InTx(*s.store, [](Tx& tx) {
                            return tx.GetMeta("mesh_prefix");
                          }));
  if (!prefix)
    return MakeError(Code::kFailedPrecondition, "state_corrupt",
                     dir + ": no mesh prefix in the database");
  TPMESH_ASSIGN_OR_RETURN(s.mesh_prefix, ParseMeshPrefix(*prefix));
  return s;
}

}  // namespace tpmesh::authority
