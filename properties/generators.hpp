// The property suite's cases: the generator core (trace/gen_core.hpp) on RapidCheck, per regime.
#pragma once

#include <rapidcheck.h>

#include <ostream>
#include <string>
#include <vector>

#include "trace/gen_ops.hpp"
#include "trace/regimes.hpp"

namespace kv::props {

// One generated test case: a config and the ops applied to it, tick = index.
using OpSequence = GenCase;

// The case as a kvtrace file without expectations; a RapidCheck counterexample prints this way.
Trace to_trace(const OpSequence& sequence);
void showValue(const OpSequence& sequence, std::ostream& os);

// Cases of one regime (trace/regimes.cpp): its config, its id pool and a list of its bursts,
// each drawn by the core through RcSource. RapidCheck shrinks the list (bursts dropped), each
// burst's draws, the pool and the config, the config independently of the ops (counts are
// relative to the page size, ids indices into the pool). Profile::mixed: a regime by share.
rc::Gen<OpSequence> gen_regime_sequence(Profile profile);

// The default state-machine property's cases (Profile::mixed); StateMachine.hip-emu's (classic).
rc::Gen<OpSequence> gen_op_sequence();
rc::Gen<OpSequence> gen_classic_sequence();

// The regimes with a property of their own (Regime.<name>), in table order (cheapest first: a
// mutant only one regime kills dies sooner), with their share of RC_PARAMS' max_success.
struct RegimeProperty {
  std::string name;
  rc::Gen<OpSequence> cases;
  int cases_per_mille;
};
std::vector<RegimeProperty> regime_properties();

// Every op with its tick and the model's result as its expectation.
Trace with_model_expectations(const Config& config, const std::vector<Op>& ops);

}  // namespace kv::props
