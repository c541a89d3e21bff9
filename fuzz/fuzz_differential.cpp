// libFuzzer target: bytes decode to a trace that runs on the model and every backend, checked
// after every op (AuditMode::touched); a divergence prints the runner's report, writes the trace
// beside the crash artifact and aborts.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "backends/backends.hpp"
#include "fuzz/byte_source.hpp"
#include "fuzz/codec.hpp"
#include "fuzz/sha1.hpp"
#include "runner/runner.hpp"

namespace {

std::string artifact_prefix;  // libFuzzer's -artifact_prefix=, where crash-<sha1> goes
// KV_BACKEND=exec:CMD or so:PATH fuzzes that backend, within its profile; else every backend.
std::string backend = "all";
kv::Capabilities capabilities = kv::Capabilities::all();
// KV_FUZZ_CHOICES=1: an input is the generator core's choices (fuzz/byte_source.hpp), not the byte
// format; the mutator then mutates plain bytes.
const bool choices = std::getenv("KV_FUZZ_CHOICES") != nullptr;

// The failing prefix as a kvtrace file named like libFuzzer's artifact plus ".trace".
std::string write_divergence(const kv::Divergence& divergence, std::span<const uint8_t> bytes) {
  const std::string artifact = artifact_prefix + "crash-" + kv::fuzz::sha1_hex(bytes);
  kv::Trace trace = divergence.prefix;
  trace.header_comments = {" fuzz_differential divergence, libFuzzer input " + artifact,
                           " signature: " + divergence.signature()};
  std::istringstream report(kv::format_divergence(divergence));
  for (std::string line; std::getline(report, line);) trace.header_comments.push_back(" " + line);
  const std::string path = artifact + ".trace";
  std::ofstream out(path);
  out << kv::format_trace(trace);
  return out ? path : "(could not write " + path + ": " + std::strerror(errno) + ")";
}

}  // namespace

// ASan's defaults for this target (ASAN_OPTIONS still overrides them): a 16 MiB quarantine
// instead of 256 MiB, so freed memory is reused while it is still mapped (with 256 MiB every
// exec's many small allocations landed on fresh pages: a third of the time went to page faults),
// and 10 frames per allocation's stack instead of 30. Measured in docs/measurements/fuzzing.md.
extern "C" const char* __asan_default_options() {
  return "quarantine_size_mb=16:malloc_context_size=10";
}

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  const std::string flag = "-artifact_prefix=";
  for (int i = 1; i < *argc; i++) {
    if (std::strncmp((*argv)[i], flag.c_str(), flag.size()) == 0) {
      artifact_prefix = (*argv)[i] + flag.size();
    }
  }
  if (const char* name = std::getenv("KV_BACKEND"); name && *name) {
    backend = name;
    auto caps = kv::backend_capabilities({backend});
    if (auto* error = std::get_if<std::string>(&caps)) {
      std::cerr << "fuzz_differential: " << *error << "\n";
      std::exit(2);
    }
    capabilities = std::get<kv::Capabilities>(caps);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  const kv::Trace trace = kv::restrict_to(
      choices ? kv::fuzz::generate_from_bytes(bytes) : kv::fuzz::decode_bytes(bytes), capabilities);
  const kv::RunReport report = kv::run_trace(trace, {backend}, kv::AuditMode::touched);
  if (report.ok()) return 0;
  std::cerr << "fuzz_differential: divergence\n" << kv::format_divergence(*report.divergence);
  std::cerr << "trace written to " << write_divergence(*report.divergence, bytes) << "\n";
  std::abort();
}
