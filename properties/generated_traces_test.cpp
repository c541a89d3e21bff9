// `kvtrace gen` traces (kv::generate_trace with a RapidCheck-chosen seed) pass on every backend.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>

#include "backends/backends.hpp"
#include "properties/check.hpp"
#include "properties/generators.hpp"
#include "runner/runner.hpp"
#include "trace/gen.hpp"

namespace kv::props {
namespace {

TEST(GeneratedTraces, PassOnEveryBackend) {
  const std::string property_id = "GeneratedTraces/PassOnEveryBackend";
  check_property(
      property_id,
      [property_id] {
        const auto seed = *rc::gen::arbitrary<uint64_t>();
        // Fewer ops of the same seed give a prefix of the same trace, so this shrinks cleanly.
        const auto op_count = *rc::gen::inRange<uint32_t>(1, 301);
        // Classic: every backend includes the emulated device; the regimes run in Regime.* on host.
        const Trace trace = generate_trace(seed, op_count, Profile::classic);
        const RunReport report =
            run_trace(trace, std::vector<std::string>{"all"}, AuditMode::every);
        if (report.ok()) return;
        const Divergence& divergence = *report.divergence;
        std::vector<Op> ops;
        for (const TraceLine& line : trace.lines) {
          if (ops.size() > divergence.tick) break;
          ops.push_back(line.op);
        }
        record_failure(property_id, with_model_expectations(trace.config, ops),
                       {"from: kvtrace gen --seed " + std::to_string(seed) + " --ops " +
                            std::to_string(op_count),
                        divergence_headline(divergence) + ": " + divergence.op_text,
                        divergence.detail, "signature: " + divergence.signature()});
        RC_FAIL(format_divergence(divergence));
      },
      250);  // the mixed profile's big regimes cost more per case than the old generator
}

}  // namespace
}  // namespace kv::props
