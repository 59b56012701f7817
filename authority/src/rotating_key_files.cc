// KeyFiles: names, meta files and atomic 0600 writes of one rotating key
// (rotating_key_files.h).
#include "tpmesh/authority/rotating_key_files.h"

#include <sodium.h>

#include <filesystem>
#include <sstream>

#include "tpmesh/pki/pki.h"

namespace tpmesh::authority {
namespace {

namespace fs = std::filesystem;

const char* SlotInfix(KeySlot slot) {
  switch (slot) {
    case KeySlot::kCurrent: return "";
    case KeySlot::kNext: return ".next";
    case KeySlot::kOld: return ".old";
  }
  return "";
}

bool FileExists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

void RemoveFile(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace

Error KeyFiles::Corrupt(const std::string& path, const std::string& what) {
  return MakeError(Code::kFailedPrecondition, "state_corrupt", path + ": " + what);
}

Error NotRemoved(const std::string& path) {
  return MakeError(Code::kInternal, "state_write_failed", path + " could not be removed");
}

std::string KeyFiles::Path(KeySlot slot, std::string_view ext) const {
  return dir_ + "/" + layout_.stem + SlotInfix(slot) + std::string(ext);
}

std::string KeyFiles::MetaPath(KeySlot slot) const { return Path(slot, ".meta"); }

bool KeyFiles::Exists(KeySlot slot) const { return FileExists(PrimaryPath(slot)); }

Result<std::string> KeyFiles::Read(KeySlot slot, std::string_view ext) const {
  return pki::ReadFile(Path(slot, ext));
}

Status KeyFiles::Write(KeySlot slot, Contents contents) const {
  Status st = OkStatus();
  for (auto& [ext, content] : contents) {
    if (st.ok()) st = pki::WritePrivateFile(Path(slot, ext), content);
    sodium_memzero(content.data(), content.size());
  }
  return st;
}

void KeyFiles::Remove(KeySlot slot) const {
  for (const auto& ext : layout_.exts) RemoveFile(Path(slot, ext));
  RemoveFile(MetaPath(slot));
}

Result<keyrotate::KeyLifecycle::Next> KeyFiles::ReadNextMeta() const {
  const std::string path = MetaPath(KeySlot::kNext);
  keyrotate::KeyLifecycle::Next next;
  if (!FileExists(path)) return next;  // announced just before a crash: switch at the next tick
  TPMESH_ASSIGN_OR_RETURN(std::string text, pki::ReadFile(path));
  std::istringstream in(text);
  if (!(in >> next.announced_at) ||
      (layout_.announce_generation && !(in >> next.announce_generation)))
    return Corrupt(path, "malformed");
  return next;
}

Status KeyFiles::WriteNextMeta(const keyrotate::KeyLifecycle::Next& next) const {
  std::string text = std::to_string(next.announced_at);
  if (layout_.announce_generation) text += " " + std::to_string(next.announce_generation);
  return pki::WritePrivateFile(MetaPath(KeySlot::kNext), text + "\n");
}

Result<keyrotate::KeyLifecycle::Old> KeyFiles::ReadOldMeta() const {
  const std::string path = MetaPath(KeySlot::kOld);
  keyrotate::KeyLifecycle::Old old;
  if (!FileExists(path)) return old;
  TPMESH_ASSIGN_OR_RETURN(std::string text, pki::ReadFile(path));
  std::istringstream in(text);
  if (!(in >> old.until)) return Corrupt(path, "malformed");
  return old;
}

Status KeyFiles::WriteOldMeta(const keyrotate::KeyLifecycle::Old& old) const {
  return pki::WritePrivateFile(MetaPath(KeySlot::kOld), std::to_string(old.until) + "\n");
}

bool KeyFiles::MarkerExists() const {
  return !layout_.rotated_marker.empty() && FileExists(dir_ + "/" + layout_.rotated_marker);
}

Status KeyFiles::WriteMarker() const {
  if (layout_.rotated_marker.empty()) return OkStatus();
  return pki::WritePrivateFile(dir_ + "/" + layout_.rotated_marker, "1\n");
}

}  // namespace tpmesh::authority
