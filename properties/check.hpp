// Runs RapidCheck properties as GoogleTest tests; a failure becomes a replayable kvtrace file.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/sanitizer_share.hpp"
#include "trace/trace.hpp"

namespace kv::props {

// Cases per property when RC_PARAMS does not say max_success (CTest and direct runs alike): 1,000,
// or 250 in the sanitizer build.
inline constexpr int default_max_success = static_cast<int>(cases_in_this_build(1000));

// Sets RC_PARAMS so RapidCheck runs `default_max_success` cases unless the user chose a count.
// Call before anything touches RapidCheck's configuration (first thing in main).
void default_rc_params();

// The test binary, for the reproduce command a failure prints.
void set_binary_path(const std::string& argv0);

// $KVTRACE_FAILURES, else failures/ under the working directory.
std::filesystem::path failures_dir();

// Called by a property on every failing call; RapidCheck calls it again for each accepted shrink,
// so the file (one per property, overwritten) ends up holding the shrunk counterexample. `trace`
// should carry the model's results as expectations; `notes` become `#` comments.
void record_failure(const std::string& property_id, Trace trace,
                    const std::vector<std::string>& notes);

// Checks `property` with RapidCheck under the id "Suite/Name". On failure, adds the RC_PARAMS
// reproduce string to the failure file, prints its path and the `kvtrace replay` command, and
// fails the current GoogleTest test with RapidCheck's report.
// `cases_per_mille` scales RapidCheck's max_success for this property (at least one case), so the
// expensive properties run fewer cases than the cheap ones under the same RC_PARAMS.
void check_property(const std::string& property_id, const std::function<void()>& property,
                    int cases_per_mille = 1000);

}  // namespace kv::props
