// One rotating key of the authority, kept as files in its state directory
// (0600, atomic writes): the one announce/switch/retire mechanism of the
// config-signing key (signing_keys.h) and the authority CA (ca_keys.h). The
// lifecycle itself (states, windows, when a step is due) is
// keyrotate::KeyLifecycle; what a version of the key is, the version type V
// says (an Ed25519 secret; a CA certificate and its key).
//
// Files, for a layout with stem S (KeyFiles::Layout) and the extensions E of
// a version's files (V::Files):
//   S<E>         the current version
//   S.next<E>    the announced version
//   S.next.meta  "<announced_at>", or with Layout::announce_generation
//                "<announced_at> <announce_generation>"
//   S.old<E>     the old version (what V::Files(kOld) keeps of it)
//   S.old.meta   "<until>"
//   Layout::rotated_marker (if any)  "1": written at every switch
//
// Order of the writes:
//   Announce  next files, next meta.
//   Switch    old files, old meta, the owner's `before_current` files,
//             current files (the next version's), the marker; then the next
//             files and meta are removed.
//   Retire    old files and meta are removed.
// Load after a crash at any point finds a consistent set:
//   - a slot exists when its Layout::primary file does (V writes it last of
//     the files V::Read needs);
//   - a next version equal to the current one (V::Id) is a switch that
//     finished: its files are removed;
//   - an old version equal to the current one is a switch that stopped
//     before the current files: it is ignored (the next switch rewrites it);
//   - no next meta: announced at 0 (its switch is due at the next tick); no
//     old meta: until 0.
//
// V, a movable value type, provides:
//   static Result<V> Read(const KeyFiles& files, KeySlot slot);
//       the version in `slot`; errors name the file ("state_corrupt", pki's)
//   KeyFiles::Contents Files(KeySlot slot) const;
//       what `slot` holds of it, in write order
//   std::string Id() const;            equal ids: the same key
//   V Retired() &&;                    what stays of the current version
//                                      once it is the old one
//
// Thread-safety: none; the owner serializes every call (SigningKeys and
// CaKeys hold their mutex). State after failure: a refused or failed step
// leaves the in-memory state as it was; files written before a failed write
// stay, and Load reads them consistently (see above).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tpmesh/common/result.h"
#include "tpmesh/keyrotate/lifecycle.h"

namespace tpmesh::authority {

enum class KeySlot { kCurrent, kNext, kOld };

// The file names and file operations of one rotating key (no key material).
class KeyFiles {
 public:
  struct Layout {
    std::string stem;                  // "config-signing", "ca"
    std::string primary;               // ".key", ".crt": present = the slot exists
    std::vector<std::string> exts;     // every extension a slot's files may have
    bool announce_generation = false;  // the next meta records the generation
    std::string rotated_marker;        // file name; "" = none
  };
  // (extension, content) in write order. Contents may be secret.
  using Contents = std::vector<std::pair<std::string, std::string>>;

  KeyFiles(std::string dir, Layout layout) : dir_(std::move(dir)), layout_(std::move(layout)) {}

  // "<dir>/<stem>[.next|.old]<ext>".
  std::string Path(KeySlot slot, std::string_view ext) const;
  // Layout::primary of `slot`, and whether it exists.
  std::string PrimaryPath(KeySlot slot) const { return Path(slot, layout_.primary); }
  bool Exists(KeySlot slot) const;
  [[nodiscard]] Result<std::string> Read(KeySlot slot, std::string_view ext) const;
  // Writes every file of `contents` (0600, atomic) and wipes the contents.
  // Stops at the first failure.
  [[nodiscard]] Status Write(KeySlot slot, Contents contents) const;
  // Removes every file of `slot` and its meta; errors are ignored.
  void Remove(KeySlot slot) const;

  // Absent: Next{} (announced at 0). Error "state_corrupt" naming the file.
  [[nodiscard]] Result<keyrotate::KeyLifecycle::Next> ReadNextMeta() const;
  [[nodiscard]] Status WriteNextMeta(const keyrotate::KeyLifecycle::Next& next) const;
  // Absent: Old{} (until 0). Error "state_corrupt" naming the file.
  [[nodiscard]] Result<keyrotate::KeyLifecycle::Old> ReadOldMeta() const;
  [[nodiscard]] Status WriteOldMeta(const keyrotate::KeyLifecycle::Old& old) const;
  bool MarkerExists() const;
  [[nodiscard]] Status WriteMarker() const;  // no-op without a marker

  // Error "state_corrupt": "<path>: <what>".
  static Error Corrupt(const std::string& path, const std::string& what);
  const std::string& dir() const { return dir_; }

 private:
  std::string MetaPath(KeySlot slot) const;

  std::string dir_;
  Layout layout_;
};

template <typename V>
class RotatingKeyFiles {
 public:
  // Reads the versions `files` holds (see Load above). `noun` names the key
  // in error messages. Errors: V::Read's, KeyFiles' meta errors.
  [[nodiscard]] static Result<RotatingKeyFiles> Load(KeyFiles files, std::string noun);

  const V& current() const { return current_; }
  const V* next() const { return next_ ? &*next_ : nullptr; }
  const V* old() const { return old_ ? &*old_ : nullptr; }
  const keyrotate::KeyLifecycle& lifecycle() const { return lifecycle_; }
  const KeyFiles& files() const { return files_; }

  // What Announce / Switch would refuse, without doing anything.
  [[nodiscard]] Status CheckAnnounce() const;
  [[nodiscard]] Status CheckSwitch() const;

  // Writes `next` as the announced version. Error "rotation_in_progress",
  // write errors.
  [[nodiscard]] Status Announce(V next, int64_t now, int64_t announce_generation);
  // Error "no_next_key", write errors.
  [[nodiscard]] Status SetAnnounceGeneration(int64_t generation);
  // next -> current, current -> old (trusted until `until`). `before_current`
  // (may be empty) writes the owner's files that must be in place before the
  // current version changes; its error stops the switch. Error
  // "no_next_key", write errors.
  [[nodiscard]] Status Switch(int64_t until, const std::function<Status()>& before_current = {});
  // Removes the old version. No-op without one. Error "state_write_failed"
  // when its primary file stays.
  [[nodiscard]] Status Retire();

 private:
  RotatingKeyFiles(KeyFiles files, keyrotate::KeyLifecycle lifecycle, V current)
      : files_(std::move(files)), lifecycle_(std::move(lifecycle)), current_(std::move(current)) {}

  KeyFiles files_;
  keyrotate::KeyLifecycle lifecycle_;
  V current_;
  std::optional<V> next_, old_;  // present exactly when lifecycle_ says so
};

// "state_write_failed": `path` could not be removed.
Error NotRemoved(const std::string& path);

template <typename V>
Result<RotatingKeyFiles<V>> RotatingKeyFiles<V>::Load(KeyFiles files, std::string noun) {
  TPMESH_ASSIGN_OR_RETURN(V current, V::Read(files, KeySlot::kCurrent));
  std::optional<V> next, old;
  std::optional<keyrotate::KeyLifecycle::Next> next_meta;
  std::optional<keyrotate::KeyLifecycle::Old> old_meta;
  if (files.Exists(KeySlot::kNext)) {
    TPMESH_ASSIGN_OR_RETURN(V n, V::Read(files, KeySlot::kNext));
    if (n.Id() == current.Id()) {
      files.Remove(KeySlot::kNext);  // switched just before a crash
    } else {
      TPMESH_ASSIGN_OR_RETURN(next_meta, files.ReadNextMeta());
      next = std::move(n);
    }
  }
  if (files.Exists(KeySlot::kOld)) {
    TPMESH_ASSIGN_OR_RETURN(V o, V::Read(files, KeySlot::kOld));
    if (o.Id() != current.Id()) {
      TPMESH_ASSIGN_OR_RETURN(old_meta, files.ReadOldMeta());
      old = std::move(o);
    }
  }
  const bool rotated = files.MarkerExists();
  RotatingKeyFiles k(
      std::move(files),
      keyrotate::KeyLifecycle::Restore(std::move(noun), next_meta, old_meta, rotated),
      std::move(current));
  k.next_ = std::move(next);
  k.old_ = std::move(old);
  return k;
}

template <typename V>
Status RotatingKeyFiles<V>::CheckAnnounce() const {
  keyrotate::KeyLifecycle after = lifecycle_;
  return after.Announce(0, 0);
}

template <typename V>
Status RotatingKeyFiles<V>::CheckSwitch() const {
  keyrotate::KeyLifecycle after = lifecycle_;
  return after.Switch(0);
}

template <typename V>
Status RotatingKeyFiles<V>::Announce(V next, int64_t now, int64_t announce_generation) {
  keyrotate::KeyLifecycle after = lifecycle_;
  TPMESH_RETURN_IF_ERROR(after.Announce(now, announce_generation));
  TPMESH_RETURN_IF_ERROR(files_.Write(KeySlot::kNext, next.Files(KeySlot::kNext)));
  TPMESH_RETURN_IF_ERROR(files_.WriteNextMeta(*after.next()));
  lifecycle_ = std::move(after);
  next_ = std::move(next);
  return OkStatus();
}

template <typename V>
Status RotatingKeyFiles<V>::SetAnnounceGeneration(int64_t generation) {
  keyrotate::KeyLifecycle after = lifecycle_;
  TPMESH_RETURN_IF_ERROR(after.SetAnnounceGeneration(generation));
  TPMESH_RETURN_IF_ERROR(files_.WriteNextMeta(*after.next()));
  lifecycle_ = std::move(after);
  return OkStatus();
}

template <typename V>
Status RotatingKeyFiles<V>::Switch(int64_t until, const std::function<Status()>& before_current) {
  keyrotate::KeyLifecycle after = lifecycle_;
  TPMESH_RETURN_IF_ERROR(after.Switch(until));
  // Old first, then the owner's files, then current: see the file comment.
  TPMESH_RETURN_IF_ERROR(files_.Write(KeySlot::kOld, current_.Files(KeySlot::kOld)));
  TPMESH_RETURN_IF_ERROR(files_.WriteOldMeta(*after.old()));
  if (before_current) TPMESH_RETURN_IF_ERROR(before_current());
  TPMESH_RETURN_IF_ERROR(files_.Write(KeySlot::kCurrent, next_->Files(KeySlot::kCurrent)));
  TPMESH_RETURN_IF_ERROR(files_.WriteMarker());
  files_.Remove(KeySlot::kNext);
  lifecycle_ = std::move(after);
  old_ = std::move(current_).Retired();
  current_ = std::move(*next_);
  next_.reset();
  return OkStatus();
}

template <typename V>
Status RotatingKeyFiles<V>::Retire() {
  files_.Remove(KeySlot::kOld);
  if (files_.Exists(KeySlot::kOld)) return NotRemoved(files_.PrimaryPath(KeySlot::kOld));
  lifecycle_.Retire();
  old_.reset();
  return OkStatus();
}

}  // namespace tpmesh::authority
