// The shrinker's output still fails the same way and is never longer than its input.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include "properties/check.hpp"
#include "shrink/shrink.hpp"
#include "tests/support/planted_backend.hpp"
#include "trace/gen.hpp"

namespace kv::props {
namespace {

TEST(Shrinker, KeepsSignatureAndNeverGrows) {
  check_property("Shrinker/KeepsSignatureAndNeverGrows", [] {
    const auto seed = *rc::gen::arbitrary<uint64_t>();
    const auto op_count = *rc::gen::inRange<uint32_t>(1, 120);
    const auto fault =
        *rc::gen::element(PlantedBackend::Fault::wrong_result, PlantedBackend::Fault::corrupt_read,
                          PlantedBackend::Fault::fork_reports_exists);
    const auto fault_tick = *rc::gen::inRange<Tick>(0, op_count);
    ShrinkOptions options{
        [fault, fault_tick](const Config& config) {
          std::vector<std::unique_ptr<Backend>> backends;
          backends.push_back(std::make_unique<PlantedBackend>(config, fault, fault_tick));
          return backends;
        },
        AuditMode::every};
    const Trace input = generate_trace(seed, op_count, Profile::classic);
    const auto result = shrink_trace(input, options);
    if (!result) return;  // the planted fault did not show in this trace
    RC_ASSERT(result->op_count_after <= input.lines.size());
    auto backends = options.make_backends(result->trace.config);
    const RunReport replay = run_trace(result->trace, backends, AuditMode::every);
    RC_ASSERT(!replay.ok());
    RC_ASSERT(replay.divergence->signature() == result->signature);
  });
}

}  // namespace
}  // namespace kv::props
