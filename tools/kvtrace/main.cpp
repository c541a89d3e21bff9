// The kvtrace command: replay, fmt, gen, shrink and campaign over kvtrace files.
#include <iostream>
#include <string>

#include "tools/kvtrace/cli.hpp"
#include "trace/op.hpp"

namespace {

void print_usage(std::ostream& out) {
  out << "usage: kvtrace COMMAND ...\n"
         "  replay [--backend NAME|all] [--audit every|check] FILE...\n"
         "      model vs every backend; exit 0 pass, 1 divergence, 2 bad input\n"
         "  fmt FILE [-o OUT]\n"
         "      print the canonical form\n"
         "  gen [--seed N] [--ops N] [--profile NAME] [--expect] [-o OUT]\n"
         "      write a random trace (--expect: with the model's results)\n"
         "  campaign [--seed N] [--traces N] [--seconds N] [--ops N] [--backend NAME|all]\n"
         "           [--profile mixed|classic|batch|fanout|ids|shapes|pages|pressure]\n"
         "      seeded generated traces; a failure is shrunk and written under failures/\n"
         "  shrink FILE [-o OUT] [--backend NAME|all]\n"
         "      the smallest trace that fails the same way\n"
         "  encode FILE [-o OUT] / decode FILE [-o OUT]\n"
         "      kvtrace text to fuzzer bytes and back (fuzz/README.md)\n"
         "  help\n"
         "      this text and the op list\n"
         "ops (docs/semantics.md):\n";
  for (uint32_t i = 0; i < kv::op_kind_count; i++) {
    out << "  " << kv::op_help(static_cast<kv::OpKind>(i)) << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "replay") return kv::cli::cmd_replay(argc, argv);
  if (command == "fmt") return kv::cli::cmd_fmt(argc, argv);
  if (command == "gen") return kv::cli::cmd_gen(argc, argv);
  if (command == "campaign") return kv::cli::cmd_campaign(argc, argv);
  if (command == "shrink") return kv::cli::cmd_shrink(argc, argv);
  if (command == "encode") return kv::cli::cmd_encode(argc, argv);
  if (command == "decode") return kv::cli::cmd_decode(argc, argv);
  if (command == "help" || command == "--help" || command == "-h") {
    print_usage(std::cout);
    return 0;
  }
  std::cerr << "kvtrace: unknown command '" << command << "'\n";
  print_usage(std::cerr);
  return kv::cli::exit_usage;
}
