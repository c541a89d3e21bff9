// `kvtrace encode` (kvtrace text -> fuzzer bytes) and `kvtrace decode` (fuzzer bytes -> text).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "fuzz/codec.hpp"
#include "tools/kvtrace/cli.hpp"

namespace kv::cli {
namespace {

// The one FILE and -o OUT both commands take.
struct FileAndOutput {
  std::string path;
  std::string out = "-";
};

std::shared_ptr<FileAndOutput> declare_file_and_output(CLI::App& app, const std::string& what) {
  auto options = std::make_shared<FileAndOutput>();
  app.add_option("FILE", options->path, what);
  app.add_option("-o,--output", options->out, "where to write the result (default -: stdout)")
      ->type_name("OUT");
  return options;
}

}  // namespace

std::function<int()> declare_encode(CLI::App& app) {
  auto options = declare_file_and_output(app, "the kvtrace file to encode ('-': standard input)");
  return [options] {
    if (options->path.empty()) return usage_error("encode", "give the FILE to encode");
    auto loaded = load_trace(options->path, memory_budget_default_bytes);
    if (auto* error = std::get_if<std::string>(&loaded)) {
      std::cerr << *error << "\n";
      return exit_usage;
    }
    auto encoded = fuzz::encode_trace(std::get<Trace>(loaded));
    if (auto* error = std::get_if<std::string>(&encoded)) {
      std::cerr << options->path << ": cannot encode for the fuzzer: " << *error << "\n";
      return exit_usage;
    }
    const auto& bytes = std::get<std::vector<uint8_t>>(encoded);
    if (auto error = write_text(options->out, std::string(bytes.begin(), bytes.end()))) {
      std::cerr << "kvtrace encode: " << *error << "\n";
      return exit_usage;
    }
    return exit_pass;
  };
}

std::function<int()> declare_decode(CLI::App& app) {
  auto options = declare_file_and_output(app, "fuzzer bytes (any file) to decode");
  return [options] {
    if (options->path.empty()) return usage_error("decode", "give the FILE to decode");
    std::ifstream in(options->path, std::ios::binary);
    if (!in) {
      std::cerr << "kvtrace decode: cannot open " << options->path << ": " << std::strerror(errno)
                << "\n";
      return exit_usage;
    }
    const std::vector<uint8_t> bytes(std::istreambuf_iterator<char>(in), {});
    Trace trace = fuzz::decode_bytes(bytes);
    trace.header_comments.push_back(" decoded from fuzzer input " + options->path);
    if (auto error = write_text(options->out, format_trace(trace))) {
      std::cerr << "kvtrace decode: " << *error << "\n";
      return exit_usage;
    }
    return exit_pass;
  };
}

}  // namespace kv::cli
