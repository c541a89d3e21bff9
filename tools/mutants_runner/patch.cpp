// Reading and applying a mutant's patch.
#include "patch.hpp"

#include <algorithm>
#include <regex>

#include "files.hpp"
#include "process.hpp"

namespace mutants {

std::string header_minimal_ops(const std::filesystem::path& patch) {
  static const std::regex header(R"(^#[[:space:]]*minimal_ops:[[:space:]]*([0-9]+).*)");
  for (const std::string& line : read_lines(patch)) {
    std::smatch match;
    if (std::regex_match(line, match, header)) return match[1];
  }
  return "";
}

std::vector<std::string> patch_files(const std::filesystem::path& patch) {
  static const std::regex file_line(R"(^(\+\+\+|---) ([^[:space:]]+).*)");
  std::vector<std::string> files;
  for (const std::string& line : read_lines(patch)) {
    std::smatch match;
    if (!std::regex_match(line, match, file_line)) continue;
    std::string file = match[2];
    if (file == "/dev/null") continue;
    if (file.rfind("a/", 0) == 0 || file.rfind("b/", 0) == 0) file = file.substr(2);
    files.push_back(file);
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  return files;
}

std::string outside_allowed(const std::vector<std::string>& files) {
  for (const std::string& file : files)
    if (file.rfind("impl/", 0) != 0 && file.rfind("gpu/", 0) != 0) return file;
  return "";
}

bool apply_patch(const std::filesystem::path& patch, const std::filesystem::path& tree,
                 const std::filesystem::path& log, bool dry_run) {
  Command command;
  command.argv = {"patch", "-p1"};
  if (dry_run) command.argv.push_back("--dry-run");
  for (const char* arg : {"-s", "-f", "--no-backup-if-mismatch"}) command.argv.push_back(arg);
  command.cwd = tree.string();
  command.stdin_path = patch.string();
  command.out_path = log.string();
  command.append = true;
  return run_command(command) == 0;
}

}  // namespace mutants
