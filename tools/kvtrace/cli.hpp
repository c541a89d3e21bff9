// Shared pieces of the kvtrace command line: loading traces, flag parsing, exit statuses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "trace/capabilities.hpp"
#include "trace/trace.hpp"

namespace kv::cli {

inline constexpr int exit_pass = 0;
inline constexpr int exit_divergence = 1;
inline constexpr int exit_usage = 2;

// Reads and parses FILE; errors come back as "FILE:LINE: message".
std::variant<Trace, std::string> load_trace(const std::string& path, uint64_t memory_budget_bytes);

// Writes text to path (or stdout for "-"); returns an error message on failure.
std::optional<std::string> write_text(const std::string& path, const std::string& text);

// Writes `trace` to path with `comment` added to its header, creating missing folders;
// returns an error message on failure.
std::optional<std::string> write_trace_file(const std::string& path, Trace trace,
                                            const std::string& comment);

// Parses a decimal flag value; nullopt (after printing why) when it is not one.
std::optional<uint64_t> parse_number_flag(const std::string& flag, const std::string& value);

// Command-line arguments with `--flag value` pairs split out from positional arguments.
struct Args {
  std::vector<std::pair<std::string, std::string>> flags;
  std::vector<std::string> positional;
  std::optional<std::string> error;

  std::optional<std::string> get(const std::string& flag) const;
};
Args parse_args(int argc, char** argv, int first, const std::vector<std::string>& flags_with_value,
                const std::vector<std::string>& switches);

// True for "all", every backend this build has, exec:CMD and so:PATH (runner's
// backend_name_problem).
bool is_backend_name(const std::string& name);
// " --backend 'NAME'" (shell-quoted) for reproduce commands; "" for "all".
std::string backend_flag(const std::string& backend);

// The backend's capabilities (starting an external one); prints why and returns nothing if it
// cannot start.
std::optional<Capabilities> capabilities_or_report(const std::string& command,
                                                   const std::string& backend);

// --memory-budget-mib, default 256.
std::optional<uint64_t> memory_budget_bytes(const Args& args);

int cmd_replay(int argc, char** argv);
int cmd_fmt(int argc, char** argv);
int cmd_gen(int argc, char** argv);
int cmd_campaign(int argc, char** argv);
int cmd_shrink(int argc, char** argv);
int cmd_encode(int argc, char** argv);
int cmd_decode(int argc, char** argv);

}  // namespace kv::cli
