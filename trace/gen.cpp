// kvtrace gen: the generator core on a seed (see gen.hpp).
#include "trace/gen.hpp"

#include <string>
#include <vector>

#include "trace/gen_core.hpp"

namespace kv {

Trace generate_trace(uint64_t seed, uint32_t op_count, Profile profile) {
  SeededSource source(seed);
  Trace trace;
  std::string command = " generated: kvtrace gen --seed " + std::to_string(seed) + " --ops " +
                        std::to_string(op_count);
  if (profile != Profile::mixed) command += " --profile " + std::string(profile_name(profile));
  trace.header_comments.push_back(command);
  Profile drawn = profile;
  if (profile == Profile::mixed) {
    std::vector<uint32_t> shares;
    for (const Regime& regime : regime_table()) shares.push_back(regime.share);
    drawn = static_cast<Profile>(source.pick(shares) + 1);
    trace.header_comments.push_back(" regime: " + std::string(profile_name(drawn)));
  }
  const Regime& regime = regime_of(drawn);
  const Config config = draw_config(source, regime);
  const std::vector<SeqId> pool = draw_pool(source, regime);
  std::vector<Burst> bursts;
  for (uint64_t ops = 0; ops < op_count;) {  // every burst has at least one op
    bursts.push_back(draw_burst(source, regime));
    ops += bursts.back().size();
  }
  GenCase generated = make_case(config, pool, bursts);
  generated.ops.resize(op_count);
  Trace body = generated.trace();
  trace.config = body.config;
  trace.lines = std::move(body.lines);
  return trace;
}

}  // namespace kv
