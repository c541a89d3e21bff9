// The so: backend: the C ABI example library (impl/ behind include/kvharness/backend.h) agrees
// with the model, and a library that cannot load is a backend failure with a clear message.
#include <gtest/gtest.h>

#include "runner/runner.hpp"
#include "trace/gen.hpp"

namespace kv {
namespace {

const std::string backend = std::string("so:") + KV_SO_EXAMPLE;

TEST(SoBackend, AgreesWithTheModel) {
  // Within the library's profile: the C ABI has no prefill (kvtrace 2 prefix caching).
  const auto caps = backend_capabilities({backend});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(caps)) << std::get<std::string>(caps);
  for (uint64_t seed = 1; seed <= 60; seed++) {
    const Trace trace = generate_trace_within(seed, 200, std::get<Capabilities>(caps));
    const RunReport report = run_trace(trace, {backend}, AuditMode::every);
    ASSERT_TRUE(report.ok()) << "seed " << seed << ": " << format_divergence(*report.divergence);
  }
}

TEST(SoBackend, ProfileComesFromTheLibrary) {
  const auto caps = backend_capabilities({backend});
  ASSERT_TRUE(std::holds_alternative<Capabilities>(caps)) << std::get<std::string>(caps);
  EXPECT_TRUE(std::get<Capabilities>(caps).allows(OpKind::fork));
  EXPECT_TRUE(std::get<Capabilities>(caps).audits);
}

TEST(SoBackend, MissingLibraryIsABackendFailure) {
  const auto caps = backend_capabilities({"so:/nonexistent/lib.so"});
  ASSERT_TRUE(std::holds_alternative<std::string>(caps));
  EXPECT_NE(std::get<std::string>(caps).find("dlopen failed"), std::string::npos);
  const RunReport report =
      run_trace(generate_trace(1, 10), {"so:/nonexistent/lib.so"}, AuditMode::check);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, "backend");
}

TEST(SoBackend, LibraryWithoutTheEntryPoint) {
  const auto caps = backend_capabilities({"so:libm.so.6"});
  ASSERT_TRUE(std::holds_alternative<std::string>(caps));
  EXPECT_NE(std::get<std::string>(caps).find("kvh_backend_v1_entry"), std::string::npos);
}

}  // namespace
}  // namespace kv
