// The state-machine property: generated op sequences agree in the model and in each backend.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <exception>

#include "properties/check.hpp"
#include "properties/generators.hpp"
#include "properties/properties.hpp"
#include "runner/runner.hpp"

namespace kv::props {
namespace {

// One case: the model and `backends` run the generated ops, auditing after every op. On a
// divergence the ops up to the failing one go to the failure file, with the model's results.
void model_and_backends_agree(const std::string& property_id,
                              const std::vector<std::string>& backends) {
  const OpSequence sequence = *gen_op_sequence();
  RunReport report;
  try {
    report = run_trace(to_trace(sequence), backends, AuditMode::every);
  } catch (const std::exception& error) {
    record_failure(property_id, with_model_expectations(sequence.config, sequence.resolved_ops()),
                   {std::string("exception: ") + error.what()});
    RC_FAIL(std::string("exception: ") + error.what());
  }
  if (report.ok()) return;
  const Divergence& divergence = *report.divergence;
  const size_t failing = std::min<size_t>(divergence.tick + 1, sequence.ops.size());
  std::vector<Op> prefix = sequence.resolved_ops();
  prefix.resize(failing);
  record_failure(property_id, with_model_expectations(sequence.config, prefix),
                 {"divergence (" + divergence.kind + ") at tick " +
                      std::to_string(divergence.tick) + ": " + divergence.op_text,
                  divergence.detail, "signature: " + divergence.signature()});
  RC_FAIL(format_divergence(divergence));
}

class StateMachine : public testing::Test {
 public:
  StateMachine(std::string property_id, std::vector<std::string> backends)
      : property_id_(std::move(property_id)), backends_(std::move(backends)) {}

  void TestBody() override {
    check_property(property_id_, [this] { model_and_backends_agree(property_id_, backends_); });
  }

 private:
  std::string property_id_;
  std::vector<std::string> backends_;
};

}  // namespace

void register_state_machine_properties() {
  std::vector<std::string> names = backend_names();
  // Without an optimized backend the property still checks the model's own audit.
  if (names.empty()) names.push_back("");
  for (const std::string& name : names) {
    const std::string test_name = name.empty() ? "model_only" : name;
    const std::vector<std::string> backends =
        name.empty() ? std::vector<std::string>{} : std::vector<std::string>{name};
    testing::RegisterTest("StateMachine", test_name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [test_name, backends]() -> testing::Test* {
                            return new StateMachine("StateMachine/" + test_name, backends);
                          });
  }
}

}  // namespace kv::props
