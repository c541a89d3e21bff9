// Selecting the mutants of a run.
#include "catalogue.hpp"

#include <algorithm>
#include <set>

#include "bound.hpp"

namespace mutants {

namespace fs = std::filesystem;

std::vector<std::string> available_mutants(const fs::path& repo) {
  constexpr size_t max_mutants = 100'000;
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::directory_iterator(repo / "mutants", ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    BOUND(files.size() < max_mutants);
    const fs::path& path = it->path();
    if (path.extension() == ".patch" && it->symlink_status(ec).type() == fs::file_type::regular)
      files.push_back(path.filename().string());
  }
  std::sort(files.begin(), files.end());
  for (std::string& file : files) file = file.substr(0, file.size() - 6);
  return files;
}

std::vector<std::string> select_mutants(const fs::path& repo, const std::vector<std::string>& given,
                                        const std::vector<std::string>& available,
                                        std::string& problem) {
  if (given.empty()) return available;
  std::vector<std::string> names;
  std::set<std::string> seen;
  for (std::string name : given) {
    if (name.ends_with(".patch")) name.resize(name.size() - 6);
    if (const size_t slash = name.rfind('/'); slash != std::string::npos)
      name = name.substr(slash + 1);
    std::error_code ec;
    if (!fs::is_regular_file(repo / "mutants" / (name + ".patch"), ec)) {
      problem = "unknown mutant '" + name + "' (tools/mutants --list shows them)";
      return {};
    }
    if (seen.insert(name).second) names.push_back(name);
  }
  return names;
}

bool rotate_for_budget(std::vector<std::string>& names, int64_t unix_seconds) {
  if (unix_seconds / 86400 % 2 != 1 || names.size() < 2) return false;
  const auto half = static_cast<std::ptrdiff_t>(names.size() / 2);
  std::rotate(names.begin(), names.begin() + half, names.end());
  return true;
}

}  // namespace mutants
