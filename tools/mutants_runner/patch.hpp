// A mutant's patch file: its header fields, the files it touches, applying it with patch(1).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mutants {

// The digits of the first "# minimal_ops: N" line, or empty.
std::string header_minimal_ops(const std::filesystem::path& patch);
// The files the patch touches (from its ---/+++ lines, minus a/ b/ and /dev/null), sorted.
std::vector<std::string> patch_files(const std::filesystem::path& patch);
// The first touched file outside impl/ and gpu/ (the folders a mutant may patch), or empty.
std::string outside_allowed(const std::vector<std::string>& files);
// patch -p1 (with --dry-run when `dry_run`) in `tree`, output appended to `log`; true on success.
bool apply_patch(const std::filesystem::path& patch, const std::filesystem::path& tree,
                 const std::filesystem::path& log, bool dry_run);

}  // namespace mutants
