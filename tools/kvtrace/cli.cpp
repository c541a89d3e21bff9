// Shared pieces of the kvtrace command line: loading traces, flag parsing.
#include "tools/kvtrace/cli.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "runner/backend.hpp"

namespace kv::cli {

std::variant<Trace, std::string> load_trace(const std::string& path, uint64_t memory_budget_bytes) {
  std::error_code error_code;
  if (std::filesystem::is_directory(path, error_code))
    return path + ":0: is a directory, not a trace file";
  std::ifstream in(path, std::ios::binary);
  if (!in) return path + ":0: cannot open the file";
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return path + ":0: read error";
  ParseResult parsed = parse_trace(buffer.str(), memory_budget_bytes);
  if (auto* error = std::get_if<ParseError>(&parsed)) {
    return path + ":" + std::to_string(error->line_number) + ": " + error->message;
  }
  return std::get<Trace>(std::move(parsed));
}

std::optional<std::string> write_text(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text;
    return std::nullopt;
  }
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) return "cannot write " + path;
  return std::nullopt;
}

std::optional<std::string> write_trace_file(const std::string& path, Trace trace,
                                            const std::string& comment) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  trace.header_comments.push_back(" " + comment);
  return write_text(path, format_trace(trace));
}

std::optional<uint64_t> parse_number_flag(const std::string& flag, const std::string& value) {
  if (value.empty() || value.size() > 19 ||
      value.find_first_not_of("0123456789") != std::string::npos) {
    std::cerr << "kvtrace: " << flag << " needs a decimal number, got '" << value << "'\n";
    return std::nullopt;
  }
  return std::stoull(value);
}

std::optional<std::string> Args::get(const std::string& flag) const {
  for (const auto& [name, value] : flags) {
    if (name == flag) return value;
  }
  return std::nullopt;
}

Args parse_args(int argc, char** argv, int first, const std::vector<std::string>& flags_with_value,
                const std::vector<std::string>& switches) {
  Args args;
  auto known = [](const std::vector<std::string>& list, const std::string& flag) {
    return std::find(list.begin(), list.end(), flag) != list.end();
  };
  for (int i = first; i < argc; i++) {
    const std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      args.positional.push_back(arg);
    } else if (known(switches, arg)) {
      args.flags.emplace_back(arg, "");
    } else if (!known(flags_with_value, arg)) {
      args.error = "unknown option " + arg;
    } else if (i + 1 >= argc) {
      args.error = arg + " needs a value";
    } else {
      args.flags.emplace_back(arg, argv[++i]);
    }
  }
  return args;
}

bool is_backend_name(const std::string& name) {
  return !backend_name_problem(name);
}

std::string backend_flag(const std::string& backend) {
  if (backend == "all") return "";
  std::string quoted = "'";
  for (char c : backend) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return " --backend " + quoted + "'";
}

std::optional<Capabilities> capabilities_or_report(const std::string& command,
                                                   const std::string& backend) {
  auto caps = backend_capabilities({backend});
  if (auto* error = std::get_if<std::string>(&caps)) {
    std::cerr << "kvtrace " << command << ": " << *error << "\n";
    return std::nullopt;
  }
  return std::get<Capabilities>(caps);
}

std::optional<uint64_t> memory_budget_bytes(const Args& args) {
  const auto value = args.get("--memory-budget-mib");
  if (!value) return memory_budget_default_bytes;
  const auto mib = parse_number_flag("--memory-budget-mib", *value);
  if (!mib || *mib == 0 || *mib > (1ull << 20)) {
    std::cerr << "kvtrace: --memory-budget-mib must be 1..1048576\n";
    return std::nullopt;
  }
  return *mib << 20;
}

}  // namespace kv::cli
