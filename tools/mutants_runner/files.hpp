// File helpers: whole-file reads, content comparison, copies, the tail of a log, trace op counts.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace mutants {

namespace fs = std::filesystem;

// Every line of `path` (none when it cannot be read). A last line without '\n' counts.
std::vector<std::string> read_lines(const fs::path& path);
// Whether both exist with the same bytes (symbolic links compared by their target).
bool same_file(const fs::path& a, const fs::path& b);
// Replaces `to` with a copy of `from` (a link stays a link; a fresh mtime); false on failure.
bool copy_fresh(const fs::path& from, const fs::path& to);
// Prints the last `n` lines of `path` to stdout (tail -n N).
void print_tail(const fs::path& path, size_t n);
// The op lines of a kvtrace file: not blank, not comment, not the version or config line.
int64_t count_ops(const fs::path& trace);
// The smallest (fewest ops, then first by path) *SUFFIX file under `dir`; empty if none.
fs::path smallest_trace(const fs::path& dir, const std::string& suffix = ".trace");
// Regular files under `dir` (relative, sorted); the top-level folders in `prune` are left out.
std::vector<std::string> list_files(const fs::path& dir, const std::vector<std::string>& prune);

}  // namespace mutants
