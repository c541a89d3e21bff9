// Shared pieces of the kvtrace command line: option helpers, loading and writing traces.
#include "tools/kvtrace/cli.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <regex>
#include <sstream>

#include "backends/backends.hpp"
#include "runner/backend.hpp"

namespace kv::cli {
namespace {

std::string& program_path_storage() {
  static std::string path = "kvtrace";
  return path;
}

std::string system_reason() {
  return std::strerror(errno);
}

// FNV-1a over the text, as 8 hex digits.
std::string short_hash(const std::string& text) {
  uint64_t hash = 14695981039346656037ull;
  for (char c : text) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 1099511628211ull;
  }
  char out[17];
  std::snprintf(out, sizeof out, "%08llx",
                static_cast<unsigned long long>((hash >> 32) ^ (hash & 0xffffffffull)));
  return out;
}

// The config and ops of a trace as text: what makes two findings the same.
std::string content_of(Trace trace) {
  trace.header_comments.clear();
  trace.trailing_comments.clear();
  for (TraceLine& line : trace.lines) {
    line.comments.clear();
    line.inline_comment.clear();
  }
  return format_trace(trace);
}

}  // namespace

const std::string& program_path() {
  return program_path_storage();
}
void set_program_path(std::string path) {
  program_path_storage() = std::move(path);
}

int usage_error(const std::string& command, const std::string& message) {
  std::cerr << "kvtrace " << command << ": " << message << "\n"
            << "run 'kvtrace " << command << " --help' for its options\n";
  return exit_usage;
}

CLI::Option* add_backend_option(CLI::App& app, std::string& backend) {
  return app
      .add_option("--backend", backend,
                  "backend to compare with the model: " + backend_names_help() + " (default all)")
      ->type_name("NAME")
      ->check(CLI::Validator(
          [](std::string& value) { return backend_name_problem(value).value_or(""); }, ""));
}

CLI::Option* add_audit_option(CLI::App& app, AuditMode& audit) {
  const std::string fallback = audit == AuditMode::every ? "every" : "check";
  return app
      .add_option_function<std::string>(
          "--audit",
          [&audit](const std::string& value) {
            audit = value == "every" ? AuditMode::every : AuditMode::check;
          },
          "audit after every op, or only at `check` ops and the end (default " + fallback + ")")
      ->type_name("every|check")
      ->check(CLI::Validator(
          [](std::string& value) {
            return value == "every" || value == "check"
                       ? std::string()
                       : "must be every or check, got '" + value + "'";
          },
          ""));
}

CLI::Option* add_profile_option(CLI::App& app, Profile& profile) {
  const std::string fallback(profile_name(profile));
  return app
      .add_option_function<std::string>(
          "--profile",
          [&profile](const std::string& value) { profile = *profile_from_name(value); },
          "what the generated traces look like (docs/guide-campaigns.md; default " + fallback + ")")
      ->type_name(profile_names())
      ->check(CLI::Validator(
          [](std::string& value) {
            return profile_from_name(value)
                       ? std::string()
                       : "must be one of " + profile_names() + ", got '" + value + "'";
          },
          ""));
}

CLI::Option* add_number_option(CLI::App& app, const std::string& name, uint64_t& value,
                               uint64_t min, uint64_t max, const std::string& help) {
  auto check = [min, max](std::string& text) -> std::string {
    const std::string want = "must be a whole number from " + std::to_string(min) + " to " +
                             std::to_string(max) + ", got '" + text + "'";
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos) return want;
    uint64_t number = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end != text.data() + text.size()) return want;
    return number < min || number > max ? want : std::string();
  };
  const bool says_default = help.find("default") != std::string::npos;
  return app
      .add_option(name, value,
                  says_default ? help : help + " (default " + std::to_string(value) + ")")
      ->type_name("N")
      ->check(CLI::Validator(check, ""));
}

CLI::Option* add_memory_budget_option(CLI::App& app, uint64_t& budget_bytes) {
  return app
      .add_option_function<uint64_t>(
          "--memory-budget-mib", [&budget_bytes](uint64_t mib) { budget_bytes = mib << 20; },
          "refuse configs whose page store would need more than N MiB (default " +
              std::to_string(budget_bytes >> 20) + ")")
      ->type_name("N")
      ->check(CLI::Validator(
          [](std::string& text) {
            const bool digits = !text.empty() && text.size() <= 7 &&
                                text.find_first_not_of("0123456789") == std::string::npos;
            const uint64_t mib = digits ? std::stoull(text) : 0;
            return mib >= 1 && mib <= (1ull << 20)
                       ? std::string()
                       : "must be a whole number from 1 to 1048576, got '" + text + "'";
          },
          ""));
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

void print_not_checked(const Capabilities& caps, const std::string& label) {
  const std::string declined = describe_declined(caps.declined);
  if (declined.empty()) return;
  std::cout << "not checked (declined in the profile of backend " << label << "): " << declined
            << "\n";
}

std::variant<Trace, std::string> load_trace(const std::string& path, uint64_t memory_budget_bytes) {
  std::string text;
  if (path == "-") {
    std::ostringstream buffer;
    buffer << std::cin.rdbuf();
    text = buffer.str();
  } else {
    std::error_code error_code;
    if (std::filesystem::is_directory(path, error_code))
      return path + ":0: is a directory, not a trace file";
    FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) return path + ":0: cannot open the file: " + system_reason();
    char chunk[65536];
    size_t got = 0;
    while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) text.append(chunk, got);
    const bool failed = std::ferror(file) != 0;
    const std::string reason = system_reason();
    std::fclose(file);
    if (failed) return path + ":0: read error: " + reason;
  }
  ParseResult parsed = parse_trace(text, memory_budget_bytes);
  if (auto* error = std::get_if<ParseError>(&parsed)) {
    return path + ":" + std::to_string(error->line_number) + ": " + error->message;
  }
  return std::get<Trace>(std::move(parsed));
}

std::optional<std::string> write_text(const std::string& path, const std::string& text) {
  if (path == "-") {
    std::cout << text << std::flush;
    return std::nullopt;
  }
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  std::error_code error;
  if (!parent.empty()) std::filesystem::create_directories(parent, error);
  if (error) return "cannot create the folder " + parent.string() + ": " + error.message();
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return "cannot write " + path + ": " + system_reason();
  const bool wrote = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  const std::string reason = system_reason();
  if (std::fclose(file) != 0 || !wrote) return "cannot write " + path + ": " + reason;
  return std::nullopt;
}

std::optional<std::string> write_trace_file(const std::string& path, Trace trace,
                                            const std::string& comment) {
  trace.header_comments.push_back(" " + comment);
  return write_text(path, format_trace(trace));
}

Finding write_finding(const std::string& dir, const std::string& stem, const Trace& trace,
                      const std::string& comment, const std::string& suffix) {
  const std::string content = content_of(trace);
  const std::string base = dir + "/" + stem + "-" + short_hash(content);
  for (uint32_t attempt = 1; attempt <= 100; attempt++) {
    const std::string path =
        base + (attempt == 1 ? "" : "-" + std::to_string(attempt)) + "." + suffix;
    std::error_code error;
    if (std::filesystem::exists(path, error)) {
      auto earlier = load_trace(path, memory_budget_default_bytes);
      const auto* earlier_trace = std::get_if<Trace>(&earlier);
      if (earlier_trace != nullptr && content_of(*earlier_trace) == content) return {path, ""};
      continue;  // a different finding under the same name: keep it, take the next name
    }
    if (auto problem = write_trace_file(path, trace, comment)) return {path, *problem};
    return {path, ""};
  }
  return {base, "more than 100 different findings named " + base};
}

std::string artifact_stem(const std::string& path) {
  static const std::regex added(R"((-tick[0-9]+|-[0-9a-f]{8}(-[0-9]+)?|\.min)$)");
  std::string stem = std::filesystem::path(path).stem().string();
  for (std::string shorter; (shorter = std::regex_replace(stem, added, "")) != stem;) {
    stem = shorter;
  }
  return stem.empty() ? "trace" : stem;
}

ShrinkOptions shrink_options_for(const std::string& backend, AuditMode audit) {
  return ShrinkOptions{backends_by_name({backend}), audit, isolation_helps({backend})};
}

}  // namespace kv::cli
