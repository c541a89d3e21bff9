// The scratch copy: lock, incremental copy of the working tree, restoring patched files.
#include "scratch.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <set>
#include <sstream>
#include <vector>

#include "bound.hpp"
#include "files.hpp"
#include "process.hpp"

namespace mutants {
namespace {

constexpr size_t max_files = 1'000'000;

// The working tree's files (tracked and untracked, not ignored; uncommitted edits included).
std::vector<std::string> list_tree(const fs::path& repo) {
  int status = 0;
  capture(Command({"git", "-C", repo.string(), "rev-parse", "--is-inside-work-tree"}), status);
  if (status != 0) return list_files(repo, {"build", "failures", ".git"});
  const std::string out =
      capture(Command({"git", "ls-files", "-co", "--exclude-standard"}, repo.string()), status);
  std::vector<std::string> files;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) {
    BOUND(files.size() < max_files);
    if (!line.empty()) files.push_back(line);
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

// Puts `file` (relative) back to its pristine content. A fresh mtime makes ninja rebuild it.
void restore_file(const fs::path& pristine, const fs::path& src, const std::string& file) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(pristine / file, ec))) {
    fs::remove(src / file, ec);
  } else if (!same_file(pristine / file, src / file)) {
    copy_fresh(pristine / file, src / file);
  }
}

}  // namespace

Scratch::Scratch(fs::path repo) : repo_(std::move(repo)) {
  const char* env = std::getenv("KV_MUTANTS_SCRATCH");
  root_ = env != nullptr && *env != '\0' ? fs::path(env) : repo_ / "build" / "mutants";
}

std::optional<std::string> Scratch::open() {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (!fs::is_directory(root_, ec))
    return "tools/mutants: cannot create the scratch folder " + root_.string();
  root_ = fs::canonical(root_, ec);
  lock_fd_ = ::open((root_ / "lock").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0 || flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    return "tools/mutants: another tools/mutants is using " + root_.string() +
           "; wait for it, or set KV_MUTANTS_SCRATCH to another folder";
  return std::nullopt;
}

std::optional<int> Scratch::sync() {
  const std::optional<int> changed = sync_tree(src());
  if (!changed) {
    std::cerr << "tools/mutants: could not copy the repository to " << src().string() << "\n";
    return std::nullopt;
  }
  if (!sync_tree(pristine())) {
    std::cerr << "tools/mutants: could not copy the repository to " << pristine().string() << "\n";
    return std::nullopt;
  }
  synced_ = true;
  return changed;
}

// Makes `dest` hold exactly the working tree's files (its build folders stay). Only files whose
// content differs are copied, with a fresh mtime, so ninja rebuilds only what they affect.
std::optional<int> Scratch::sync_tree(const fs::path& dest) const {
  const std::vector<std::string> want = list_tree(repo_);
  int changed = 0;
  std::error_code ec;
  for (const std::string& file : want) {
    check_interrupted();
    const auto type = fs::symlink_status(repo_ / file, ec).type();
    if (type != fs::file_type::regular && type != fs::file_type::symlink) continue;
    if (same_file(repo_ / file, dest / file)) continue;
    if (!copy_fresh(repo_ / file, dest / file)) return std::nullopt;
    changed++;
  }
  const std::set<std::string> wanted(want.begin(), want.end());
  for (const std::string& file : list_files(dest, {"build", "build-fuzz", "failures"})) {
    if (wanted.count(file) != 0) continue;
    fs::remove(dest / file, ec);
    changed++;
  }
  return changed;
}

void Scratch::restore_pristine() const {
  std::error_code ec;
  for (const char* dir : {"impl", "gpu"}) {
    for (const std::string& file : list_files(src() / dir, {})) {
      const std::string rel = std::string(dir) + "/" + file;
      if (!fs::exists(fs::symlink_status(pristine() / rel, ec))) fs::remove(src() / rel, ec);
    }
    for (const std::string& file : list_files(pristine() / dir, {}))
      restore_file(pristine(), src(), std::string(dir) + "/" + file);
  }
}

}  // namespace mutants
