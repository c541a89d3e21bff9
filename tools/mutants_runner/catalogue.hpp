// The mutants on offer (mutants/*.patch), the names a run selects, the odd-day rotation.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace mutants {

// The names of REPO/mutants/*.patch (regular files), sorted by file name.
std::vector<std::string> available_mutants(const std::filesystem::path& repo);
// The selection: `given` (a trailing .patch and any folder dropped, duplicates once), or all
// `available` when none given; the usage error in `problem` when a name is unknown.
std::vector<std::string> select_mutants(const std::filesystem::path& repo,
                                        const std::vector<std::string>& given,
                                        const std::vector<std::string>& available,
                                        std::string& problem);
// Under a budget, on odd days (UTC days since the epoch), starts halfway round the list, so two
// days of budgeted runs (CI) between them run every mutant. True when it rotated.
bool rotate_for_budget(std::vector<std::string>& names, int64_t unix_seconds);

}  // namespace mutants
