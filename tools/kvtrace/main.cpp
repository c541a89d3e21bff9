// The kvtrace command: replay, fmt, gen, shrink and campaign over kvtrace files.
#include <iostream>
#include <memory>
#include <string>

#include "runner/failure_kind.hpp"
#include "tools/kvtrace/cli.hpp"
#include "trace/op.hpp"

namespace kv::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"replay", "model vs every backend on trace files; exit 0 pass, 1 divergence, 2 bad input",
       declare_replay},
      {"fmt", "print a trace in canonical form", declare_fmt},
      {"gen", "write a random trace", declare_gen},
      {"campaign", "seeded generated traces; a failure is shrunk and written under failures/",
       declare_campaign},
      {"shrink", "the smallest trace that fails the same way; exit 3 when the trace passes",
       declare_shrink},
      {"encode", "kvtrace text to fuzzer bytes (fuzz/README.md)", declare_encode},
      {"decode", "fuzzer bytes (any) to kvtrace text (fuzz/README.md)", declare_decode},
  };
  return table;
}

}  // namespace kv::cli

namespace {

using kv::cli::Command;

std::unique_ptr<CLI::App> make_app(const Command& command, std::function<int()>& run) {
  auto app = std::make_unique<CLI::App>(command.summary, "kvtrace " + std::string(command.name));
  app->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  app->get_formatter()->column_width(34);
  run = command.declare(*app);
  return app;
}

// CLI11's messages, reworded where they do not say what to do.
std::string describe(const CLI::ParseError& error) {
  std::string text = error.what();
  const size_t colon = text.find(": ");
  const std::string option = colon == std::string::npos ? "" : text.substr(0, colon);
  if (error.get_name() == "ArgumentMismatch" && text.find("At Most 1") != std::string::npos)
    return option + " is given more than once (give it once)";
  if (error.get_name() == "ArgumentMismatch" && text.find("missing") != std::string::npos)
    return option + " needs a value";
  if (error.get_name() == "ExtrasError")
    return "unknown option or extra argument: " + text.substr(text.find(": ") + 2) +
           " (a file whose name starts with '-' can be given as ./NAME)";
  return text;
}

void print_help(std::ostream& out) {
  out << "usage: kvtrace COMMAND [OPTIONS] ...   (kvtrace COMMAND --help: that command alone)\n"
         "       kvtrace --version\n\n";
  for (const Command& command : kv::cli::commands()) {
    std::function<int()> run;
    out << make_app(command, run)->help() << "\n";
  }
  out << "ops (docs/semantics.md):\n";
  for (uint32_t i = 0; i < kv::op_kind_count; i++) {
    out << "  " << kv::op_help(static_cast<kv::OpKind>(i)) << "\n";
  }
  out << "\nfailure kinds (`divergence (KIND) at tick T`):\n";
  for (uint8_t i = 0; i < kv::failure_kind_count; i++) {
    const auto kind = static_cast<kv::FailureKind>(i);
    out << "  " << kv::kind_name(kind) << std::string(18 - kv::kind_name(kind).size(), ' ')
        << kv::kind_help(kind) << "\n";
  }
}

int run_command(const Command& command, int argc, char** argv) {
  std::function<int()> run;
  const auto app = make_app(command, run);
  try {
    app->parse(argc - 1, argv + 1);
  } catch (const CLI::CallForHelp&) {
    std::cout << app->help();
    return kv::cli::exit_pass;
  } catch (const CLI::ParseError& error) {
    return kv::cli::usage_error(command.name, describe(error));
  }
  return run();
}

}  // namespace

int main(int argc, char** argv) {
  kv::cli::set_program_path(argv[0]);
  const std::string name = argc > 1 ? argv[1] : "";
  for (const Command& command : kv::cli::commands()) {
    if (name == command.name) return run_command(command, argc, argv);
  }
  if (name == "help" || name == "--help" || name == "-h") {
    print_help(std::cout);
    return kv::cli::exit_pass;
  }
  if (name == "--version" || name == "version") {
    std::cout << kv::cli::kvtrace_version << "\n";
    return kv::cli::exit_pass;
  }
  std::cerr
      << "kvtrace: " << (name.empty() ? "no command given" : "unknown command '" + name + "'")
      << "; commands: replay, fmt, gen, campaign, shrink, encode, decode, help (kvtrace --help)\n";
  return kv::cli::exit_usage;
}
