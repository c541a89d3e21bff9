// Registration of the properties that exist once per backend (main calls it before the run).
#pragma once

namespace kv::props {

// One StateMachine.<backend> test per backend this build has (StateMachine.model_only if none),
// and one Regime.<profile> test per scale regime.
void register_state_machine_properties();

}  // namespace kv::props
