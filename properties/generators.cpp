// The property suite's cases: the generator core on RapidCheck (see generators.hpp).
#include "properties/generators.hpp"

#include <tuple>
#include <utility>

#include "model/model.hpp"
#include "properties/rc_source.hpp"
#include "trace/gen_core.hpp"

namespace kv::props {
namespace {

rc::Gen<OpSequence> gen_regime_case(const Regime& regime) {
  const Regime* row = &regime;  // the table lives as long as the program
  const auto config = rc::gen::exec([row] {
    RcSource source;
    return draw_config(source, *row);
  });
  const auto pool = rc::gen::exec([row] {
    RcSource source;
    return draw_pool(source, *row);
  });
  const auto burst = rc::gen::exec([row] {
    RcSource source;
    return draw_burst(source, *row);
  });
  // A tuple: the config, the pool and the bursts shrink independently and alternately.
  return rc::gen::map(rc::gen::tuple(config, pool,
                                     rc::gen::scale(row->length_percent / 100.0,
                                                    rc::gen::container<std::vector<Burst>>(burst))),
                      [](const std::tuple<Config, std::vector<SeqId>, std::vector<Burst>>& parts) {
                        return make_case(std::get<0>(parts), std::get<1>(parts),
                                         std::get<2>(parts));
                      });
}

}  // namespace

Trace to_trace(const OpSequence& sequence) {
  return sequence.trace();
}

void showValue(const OpSequence& sequence, std::ostream& os) {
  os << "\n" << format_trace(to_trace(sequence));
}

rc::Gen<OpSequence> gen_regime_sequence(Profile profile) {
  if (profile != Profile::mixed) return gen_regime_case(regime_of(profile));
  std::vector<uint32_t> shares;
  for (const Regime& regime : regime_table()) shares.push_back(regime.share);
  // Shrinks toward the first row with a share (classic).
  return rc::gen::mapcat(gen_weighted_index(shares), [shares](uint64_t row) {
    while (shares[row] == 0) row = (row + 1) % shares.size();
    return gen_regime_case(regime_table()[row]);
  });
}

rc::Gen<OpSequence> gen_op_sequence() {
  return gen_regime_sequence(Profile::mixed);
}

rc::Gen<OpSequence> gen_classic_sequence() {
  return gen_regime_sequence(Profile::classic);
}

std::vector<RegimeProperty> regime_properties() {
  std::vector<RegimeProperty> properties;
  for (const Regime& regime : regime_table()) {
    if (regime.cases_per_mille == 0) continue;
    properties.push_back(RegimeProperty{std::string(regime.name), gen_regime_case(regime),
                                        static_cast<int>(regime.cases_per_mille)});
  }
  return properties;
}

Trace with_model_expectations(const Config& config, const std::vector<Op>& ops) {
  Trace trace;
  trace.config = config;
  for (const Op& op : ops) trace.lines.push_back(TraceLine{op, std::nullopt, 0, {}, {}});
  set_model_expectations(trace);
  return trace;
}

}  // namespace kv::props
