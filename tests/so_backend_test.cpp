// The so: backend: the C ABI example libraries (impl/ behind include/kvharness/backend.h) agree
// with the model, version 2 (libkvh_host.so) on everything exec: protocol 2 offers and version 1
// (libkvh_host_v1.so) on kvtrace 1; planted bugs in the version 2 library are found; a library
// that cannot load is a backend failure with a clear message.
#include <gtest/gtest.h>

#include <cstdlib>

#include "backends/backends.hpp"
#include "include/kvharness/backend.h"
#include "runner/runner.hpp"
#include "tests/support/sanitizer_share.hpp"
#include "trace/gen.hpp"
#include "trace/regimes.hpp"

namespace kv {
namespace {

const std::string backend = std::string("so:") + KV_SO_EXAMPLE;
const std::string backend_v1 = std::string("so:") + KV_SO_EXAMPLE_V1;

Capabilities capabilities_of(const std::string& name) {
  const auto caps = backend_capabilities({name});
  EXPECT_TRUE(std::holds_alternative<Capabilities>(caps)) << std::get<std::string>(caps);
  return std::holds_alternative<Capabilities>(caps) ? std::get<Capabilities>(caps) : Capabilities{};
}

// --- version 1 ---

TEST(SoBackend, AgreesWithTheModel) {
  // Within the library's profile: C ABI version 1 has no prefill (kvtrace 2 prefix caching).
  const Capabilities caps = capabilities_of(backend_v1);
  for (uint64_t seed = 1; seed <= 60; seed++) {
    const Trace trace = generate_trace_within(seed, 200, caps);
    const RunReport report = run_trace(trace, {backend_v1}, AuditMode::every);
    ASSERT_TRUE(report.ok()) << "seed " << seed << ": " << format_divergence(*report.divergence);
  }
}

TEST(SoBackend, ProfileComesFromTheLibrary) {
  const Capabilities caps = capabilities_of(backend_v1);
  EXPECT_TRUE(caps.allows(OpKind::fork));
  EXPECT_FALSE(caps.allows(OpKind::prefill));
  EXPECT_TRUE(caps.audits);
}

TEST(SoBackend, MissingLibraryIsABackendFailure) {
  const auto caps = backend_capabilities({"so:/nonexistent/lib.so"});
  ASSERT_TRUE(std::holds_alternative<std::string>(caps));
  EXPECT_NE(std::get<std::string>(caps).find("dlopen failed"), std::string::npos);
  const RunReport report =
      run_trace(generate_trace(1, 10), {"so:/nonexistent/lib.so"}, AuditMode::check);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.divergence->kind, FailureKind::backend);
}

TEST(SoBackend, LibraryWithoutTheEntryPoint) {
  const auto caps = backend_capabilities({"so:libm.so.6"});
  ASSERT_TRUE(std::holds_alternative<std::string>(caps));
  EXPECT_NE(std::get<std::string>(caps).find("kvh_backend_v1_entry"), std::string::npos);
  EXPECT_NE(std::get<std::string>(caps).find("kvh_backend_v2_entry"), std::string::npos);
}

// --- version 2 ---

TEST(SoBackendV2, ProfileIsEverythingImplImplements) {
  const Capabilities caps = capabilities_of(backend);
  for (const OpKind kind : {OpKind::prefill, OpKind::admit, OpKind::reserve, OpKind::commit,
                            OpKind::preempt, OpKind::swap_out, OpKind::swap_in}) {
    EXPECT_TRUE(caps.allows(kind)) << op_name(kind);
  }
  EXPECT_EQ(caps.sliding_window, (ConfigRange{0, 1048576}));
  EXPECT_EQ(caps.kv_groups, (ConfigRange{0, 8}));
  EXPECT_TRUE(caps.eviction_lru && caps.stores_data && caps.audits);
}

// Seeded traces of the profiles that use what version 1 lacks, every op audited.
TEST(SoBackendV2, AgreesWithTheModel) {
  const Capabilities caps = capabilities_of(backend);
  for (const Profile profile :
       {Profile::serving, Profile::window, Profile::hybrid, Profile::prefix, Profile::mixed}) {
    for (uint64_t seed = 1; seed <= cases_in_this_build(24); seed++) {
      const Trace trace = generate_trace_within(seed, 200, caps, profile);
      const RunReport report = run_trace(trace, {backend}, AuditMode::every);
      ASSERT_TRUE(report.ok()) << "profile " << static_cast<int>(profile) << " seed " << seed
                               << ": " << format_divergence(*report.divergence);
    }
  }
}

// The first divergence of seeds 1..40 of `profile` with the library's bug `bug` planted.
std::optional<Divergence> planted(const char* bug, Profile profile) {
  setenv("KVH_HOST_BUG", bug, 1);
  const Capabilities caps = capabilities_of(backend);
  std::optional<Divergence> found;
  for (uint64_t seed = 1; seed <= 40 && !found; seed++) {
    found = run_trace(generate_trace_within(seed, 200, caps, profile), {backend}, AuditMode::every)
                .divergence;
  }
  unsetenv("KVH_HOST_BUG");
  return found;
}

TEST(SoBackendV2, DroppedHitIsFound) {
  const auto found = planted("drop-hit", Profile::prefix);
  ASSERT_TRUE(found.has_value()) << "a hit reported as hit=0 went unnoticed";
  EXPECT_EQ(found->kind, FailureKind::result);
  EXPECT_TRUE(found->op_text.rfind("prefill ", 0) == 0 || found->op_text.rfind("reserve ", 0) == 0)
      << found->op_text;
}

TEST(SoBackendV2, GroupsInTheWrongOrderAreFound) {
  const auto found = planted("groups-reversed", Profile::hybrid);
  ASSERT_TRUE(found.has_value()) << "block tables in reverse group order went unnoticed";
}

// A bad table: refused at load, with a message naming what is wrong.
void expect_refused(const char* path, const std::string& expected) {
  const auto caps = backend_capabilities({std::string("so:") + path});
  ASSERT_TRUE(std::holds_alternative<std::string>(caps)) << path << " loaded";
  EXPECT_NE(std::get<std::string>(caps).find(expected), std::string::npos)
      << std::get<std::string>(caps);
}

TEST(SoBackendV2, BadTablesAreRefused) {
  expect_refused(KV_SO_BAD_VERSION,
                 "returned a table with abi_version 7; that symbol must "
                 "return a kvh_backend_v2 with abi_version 2");
  expect_refused(
      KV_SO_BAD_SIZE,
      "returned a table with struct_size " + std::to_string(sizeof(kvh_backend_v1)) +
          ", less than sizeof(kvh_backend_v2) = " + std::to_string(sizeof(kvh_backend_v2)));
  expect_refused(KV_SO_BAD_NULL,
                 "returned a table whose destroy, apply, stats, info, sequence_ids, block_table, "
                 "gather_words is NULL (only audit and prefix_cache may be NULL");
}

}  // namespace
}  // namespace kv
