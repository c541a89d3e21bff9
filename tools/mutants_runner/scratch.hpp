// The scratch folder: a locked, persistent copy of the working tree (src/, patched and built) and
// a pristine copy to restore the patched files from.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace mutants {

namespace fs = std::filesystem;

class Scratch {
 public:
  // build/mutants under `repo`, or $KV_MUTANTS_SCRATCH.
  explicit Scratch(fs::path repo);
  // Creates the folder and takes its lock; the reason it could not, printed as is, or nullopt.
  std::optional<std::string> open();
  // Makes src/ and pristine/ hold the working tree; the number of files src/ changed by, or
  // nullopt (with the message printed) when a copy failed.
  std::optional<int> sync();
  // Restores impl/ and gpu/ of src/ (the only folders a mutant may patch) file by file.
  void restore_pristine() const;

  const fs::path& root() const { return root_; }
  fs::path src() const { return root_ / "src"; }
  fs::path pristine() const { return root_ / "pristine"; }
  fs::path logs() const { return root_ / "logs"; }
  fs::path work() const { return root_ / "work"; }
  bool synced() const { return synced_; }

 private:
  std::optional<int> sync_tree(const fs::path& dest) const;
  fs::path repo_;
  fs::path root_;
  int lock_fd_ = -1;
  bool synced_ = false;
};

}  // namespace mutants
