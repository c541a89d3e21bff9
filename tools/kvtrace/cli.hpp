// Shared pieces of the kvtrace command line: the command table, option helpers (CLI11), loading
// and writing traces, exit statuses.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "runner/runner.hpp"
#include "shrink/shrink.hpp"
#include "trace/capabilities.hpp"
#include "trace/gen.hpp"
#include "trace/trace.hpp"

namespace kv::cli {

inline constexpr int exit_pass = 0;
inline constexpr int exit_divergence = 1;
inline constexpr int exit_usage = 2;
inline constexpr int exit_nothing_to_shrink = 3;  // `shrink` of a trace that passes
inline constexpr int exit_interrupted = 130;      // `campaign` stopped by SIGINT or SIGTERM

inline constexpr const char* kvtrace_version =
    "kvtrace 1.2 (reads and writes kvtrace 1 and 2 files)";

// One kvtrace command: `declare` adds its options to `app` and returns what runs it after a
// successful parse.
struct Command {
  const char* name;
  const char* summary;
  std::function<int()> (*declare)(CLI::App& app);
};
const std::vector<Command>& commands();

std::function<int()> declare_replay(CLI::App& app);
std::function<int()> declare_fmt(CLI::App& app);
std::function<int()> declare_gen(CLI::App& app);
std::function<int()> declare_campaign(CLI::App& app);
std::function<int()> declare_shrink(CLI::App& app);
std::function<int()> declare_encode(CLI::App& app);
std::function<int()> declare_decode(CLI::App& app);

// argv[0] as the user typed it, for the `reproduce:` commands.
const std::string& program_path();
void set_program_path(std::string path);

// Prints "kvtrace COMMAND: message" and where the options are; returns exit_usage.
int usage_error(const std::string& command, const std::string& message);

// ---- option helpers: each adds one option with its checks and help text --------------------
// --backend NAME: checked by kv::backend_name_problem, the help lists the names.
CLI::Option* add_backend_option(CLI::App& app, std::string& backend);
// --audit every|check.
CLI::Option* add_audit_option(CLI::App& app, AuditMode& audit);
// --memory-budget-mib N (1..1048576), default 256; stored in bytes.
CLI::Option* add_memory_budget_option(CLI::App& app, uint64_t& budget_bytes);
// --profile NAME: a generator profile (trace/gen.hpp), checked by kv::profile_from_name.
CLI::Option* add_profile_option(CLI::App& app, Profile& profile);
// A whole number in [min, max]; anything else (sign, 20 digits, overflow) is refused by name.
CLI::Option* add_number_option(CLI::App& app, const std::string& name, uint64_t& value,
                               uint64_t min, uint64_t max, const std::string& help);

// " --backend 'NAME'" (shell-quoted) for reproduce commands; "" for "all".
std::string backend_flag(const std::string& backend);

// The backend's capabilities (starting an external one); prints why and returns nothing if it
// cannot start.
std::optional<Capabilities> capabilities_or_report(const std::string& command,
                                                   const std::string& backend);
// One line naming the observations the backend's profile declines (nothing when none): a report
// must say what it did not check. `label`: the backend as reports call it (backend_label).
void print_not_checked(const Capabilities& caps, const std::string& label);

// Reads and parses FILE ("-": standard input); errors come back as "FILE:LINE: message".
std::variant<Trace, std::string> load_trace(const std::string& path, uint64_t memory_budget_bytes);

// Writes text to path (or stdout for "-"), creating missing folders; on failure a message with
// the system's reason.
std::optional<std::string> write_text(const std::string& path, const std::string& text);

// Writes `trace` to path with `comment` added to its header, creating missing folders;
// returns an error message on failure.
std::optional<std::string> write_trace_file(const std::string& path, Trace trace,
                                            const std::string& comment);

// Where a finding went: `path`, or `error` (with the system's reason) when it could not be written.
struct Finding {
  std::string path;
  std::string error;
};
// Writes a finding as DIR/STEM-HASH.SUFFIX, HASH a short hash of the config and ops: the same
// failure gets the same name, and an earlier file with other ops is never replaced.
Finding write_finding(const std::string& dir, const std::string& stem, const Trace& trace,
                      const std::string& comment, const std::string& suffix = "trace");

// The stem of an artifact name without the suffixes kvtrace adds (-tickN, -HASH, .min).
std::string artifact_stem(const std::string& path);

// The shrinker's options for a --backend value: fresh backends per replay, isolated when a child
// process protects kvtrace from the backend (runner/isolate.hpp).
ShrinkOptions shrink_options_for(const std::string& backend, AuditMode audit);

}  // namespace kv::cli
