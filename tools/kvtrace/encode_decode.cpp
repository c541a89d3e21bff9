// `kvtrace encode` (kvtrace text -> fuzzer bytes) and `kvtrace decode` (fuzzer bytes -> text).
#include <fstream>
#include <iostream>
#include <iterator>

#include "fuzz/codec.hpp"
#include "tools/kvtrace/cli.hpp"

namespace kv::cli {
namespace {

// The one FILE and -o OUT both commands take; nullopt after printing usage.
std::optional<Args> file_and_output(int argc, char** argv, const char* usage) {
  Args args = parse_args(argc, argv, 2, {"-o"}, {});
  if (args.error || args.positional.size() != 1) {
    std::cerr << "kvtrace: " << args.error.value_or("give exactly one FILE") << "\n" << usage;
    return std::nullopt;
  }
  return args;
}

}  // namespace

int cmd_encode(int argc, char** argv) {
  const char* usage = "usage: kvtrace encode FILE [-o OUT]   (fuzzer bytes; default stdout)\n";
  const auto args = file_and_output(argc, argv, usage);
  if (!args) return exit_usage;
  const std::string& path = args->positional[0];
  auto loaded = load_trace(path, memory_budget_default_bytes);
  if (auto* error = std::get_if<std::string>(&loaded)) {
    std::cerr << *error << "\n";
    return exit_usage;
  }
  auto encoded = fuzz::encode_trace(std::get<Trace>(loaded));
  if (auto* error = std::get_if<std::string>(&encoded)) {
    std::cerr << path << ": cannot encode for the fuzzer: " << *error << "\n";
    return exit_usage;
  }
  const auto& bytes = std::get<std::vector<uint8_t>>(encoded);
  if (auto error =
          write_text(args->get("-o").value_or("-"), std::string(bytes.begin(), bytes.end()))) {
    std::cerr << "kvtrace encode: " << *error << "\n";
    return exit_usage;
  }
  return exit_pass;
}

int cmd_decode(int argc, char** argv) {
  const char* usage =
      "usage: kvtrace decode FILE [-o OUT]   (any bytes; kvtrace text, default stdout)\n";
  const auto args = file_and_output(argc, argv, usage);
  if (!args) return exit_usage;
  const std::string& path = args->positional[0];
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "kvtrace decode: cannot open " << path << "\n";
    return exit_usage;
  }
  const std::vector<uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
  Trace trace = fuzz::decode_bytes(bytes);
  trace.header_comments.push_back(" decoded from fuzzer input " + path);
  if (auto error = write_text(args->get("-o").value_or("-"), format_trace(trace))) {
    std::cerr << "kvtrace decode: " << *error << "\n";
    return exit_usage;
  }
  return exit_pass;
}

}  // namespace kv::cli
