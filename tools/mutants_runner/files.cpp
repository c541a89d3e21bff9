// File helpers for the scratch copy, the logs and the counterexamples.
#include "files.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iostream>
#include <iterator>

#include "bound.hpp"

namespace mutants {
namespace {

constexpr size_t max_lines = 10'000'000;  // a log or trace longer than this is cut short
constexpr size_t max_files = 1'000'000;   // a tree larger than this is cut short

std::string read_all(const fs::path& path, bool& ok) {
  std::ifstream in(path, std::ios::binary);
  ok = static_cast<bool>(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool starts_word(std::string_view line, std::string_view word) {
  if (line.substr(0, word.size()) != word) return false;
  return line.size() == word.size() || std::isspace(static_cast<unsigned char>(line[word.size()]));
}

}  // namespace

std::vector<std::string> read_lines(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; lines.size() < max_lines && std::getline(in, line);)
    lines.push_back(std::move(line));
  return lines;
}

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  const bool a_link = fs::is_symlink(a, ec), b_link = fs::is_symlink(b, ec);
  if (a_link || b_link)
    return a_link && b_link && fs::read_symlink(a, ec) == fs::read_symlink(b, ec);
  if (!fs::is_regular_file(b, ec) || fs::file_size(a, ec) != fs::file_size(b, ec)) return false;
  bool ok_a = false, ok_b = false;
  const std::string text_a = read_all(a, ok_a);
  return ok_a && text_a == read_all(b, ok_b) && ok_b;
}

bool copy_fresh(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_directories(to.parent_path(), ec);
  fs::remove(to, ec);
  if (fs::is_symlink(from, ec)) {
    fs::create_symlink(fs::read_symlink(from, ec), to, ec);
    return !ec;
  }
  return fs::copy_file(from, to, ec) && !ec;
}

void print_tail(const fs::path& path, size_t n) {
  const std::vector<std::string> lines = read_lines(path);
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); i++)
    std::cout << lines[i] << "\n";
  std::cout.flush();
}

int64_t count_ops(const fs::path& trace) {
  int64_t ops = 0;
  for (const std::string& line : read_lines(trace)) {
    const size_t first = line.find_first_not_of(" \t\r\v\f");
    if (first == std::string::npos || line[first] == '#') continue;
    const std::string_view rest = std::string_view(line).substr(first);
    if (starts_word(rest, "kvtrace") || starts_word(rest, "config")) continue;
    ops++;
  }
  return ops;
}

fs::path smallest_trace(const fs::path& dir, const std::string& suffix) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return {};
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    BOUND(found.size() < max_files);
    const std::string path = it->path().string();
    if (it->symlink_status(ec).type() == fs::file_type::regular && path.size() >= suffix.size() &&
        path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0)
      found.push_back(path);
  }
  std::sort(found.begin(), found.end());
  fs::path best;
  int64_t best_ops = 0;
  for (const std::string& path : found) {
    const int64_t ops = count_ops(path);
    if (best.empty() || ops < best_ops) {
      best = path;
      best_ops = ops;
    }
  }
  return best;
}

std::vector<std::string> list_files(const fs::path& dir, const std::vector<std::string>& prune) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    BOUND(files.size() < max_files);
    const std::string rel = fs::relative(it->path(), dir, ec).string();
    const auto type = it->symlink_status(ec).type();
    if (it.depth() == 0 && type == fs::file_type::directory &&
        std::find(prune.begin(), prune.end(), rel) != prune.end()) {
      it.disable_recursion_pending();
      continue;
    }
    if (type == fs::file_type::regular || type == fs::file_type::symlink) files.push_back(rel);
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace mutants
