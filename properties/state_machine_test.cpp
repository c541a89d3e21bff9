// The state-machine property: generated op sequences agree in the model and in each backend.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <cstdlib>
#include <exception>

#include "backends/backends.hpp"
#include "properties/check.hpp"
#include "properties/generators.hpp"
#include "properties/properties.hpp"
#include "runner/runner.hpp"

namespace kv::props {
namespace {

// The case cut down to what the backend implements: ops outside its profile are dropped, the
// config is moved into its ranges, policies and variants (KV_BACKEND=exec:... runs an external
// cache; the in-tree ones implement every op but not every variant).
OpSequence within(OpSequence sequence, const Capabilities& caps) {
  std::erase_if(sequence.ops, [&caps](const GenOp& op) { return !caps.allows(op.kind); });
  fit_config(sequence.config, caps);
  return sequence;
}

// One case: the model and `backends` run the generated ops, auditing after every op. On a
// divergence the ops up to the failing one go to the failure file, with the model's results.
void model_and_backends_agree(const std::string& property_id,
                              const std::vector<std::string>& backends, const Capabilities& caps,
                              const rc::Gen<OpSequence>& cases) {
  const OpSequence sequence = within(*cases, caps);
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
                 {divergence_headline(divergence) + ": " + divergence.op_text, divergence.detail,
                  "signature: " + divergence.signature()});
  RC_FAIL(format_divergence(divergence));
}

class StateMachine : public testing::Test {
 public:
  StateMachine(std::string property_id, std::vector<std::string> backends,
               rc::Gen<OpSequence> cases, int cases_per_mille)
      : property_id_(std::move(property_id)),
        backends_(std::move(backends)),
        cases_(std::move(cases)),
        cases_per_mille_(cases_per_mille) {}

  void TestBody() override {
    auto caps = backend_capabilities(backends_);
    if (auto* error = std::get_if<std::string>(&caps)) FAIL() << *error;
    check_property(
        property_id_,
        [this, &caps] {
          model_and_backends_agree(property_id_, backends_, std::get<Capabilities>(caps), cases_);
        },
        cases_per_mille_);
  }

 private:
  std::string property_id_;
  std::vector<std::string> backends_;
  rc::Gen<OpSequence> cases_;
  int cases_per_mille_;
};

}  // namespace

void register_state_machine_properties() {
  std::vector<std::string> names = backend_names();
  // Without an optimized backend the property still checks the model's own audit.
  if (names.empty()) names.push_back("");
  // KV_BACKEND=exec:CMD (or any --backend value) adds StateMachine.external for that backend.
  const char* external = std::getenv("KV_BACKEND");
  if (external && *external) names.push_back(external);
  for (const std::string& name : names) {
    const std::string test_name =
        name.empty() ? "model_only" : (external && name == external ? "external" : name);
    const std::vector<std::string> backends =
        name.empty() ? std::vector<std::string>{} : std::vector<std::string>{name};
    testing::RegisterTest("StateMachine", test_name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [test_name, backends]() -> testing::Test* {
                            // The scale regimes have properties of their own (Regime.*, on
                            // host and hip-emu); StateMachine.hip-emu keeps the classic cases.
                            return new StateMachine(
                                "StateMachine/" + test_name, backends,
                                test_name == "host" ? gen_op_sequence() : gen_classic_sequence(),
                                1000);
                          });
  }
  // One property per scale regime, on the host backend and the emulated device, with fewer cases
  // for the big ones.
  std::vector<std::string> all;
  for (const char* name : {"host", "hip-emu"}) {
    if (std::find(names.begin(), names.end(), name) != names.end()) all.emplace_back(name);
  }
  for (const RegimeProperty& regime : regime_properties()) {
    const std::string test_name = regime.name;
    testing::RegisterTest("Regime", test_name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [test_name, all, regime]() -> testing::Test* {
                            return new StateMachine("Regime/" + test_name, all, regime.cases,
                                                    regime.cases_per_mille);
                          });
  }
}

}  // namespace kv::props
