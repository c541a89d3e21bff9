// The property-suite entry point: 1,000 cases per property unless RC_PARAMS says otherwise.
#include <gtest/gtest.h>

#include "properties/check.hpp"
#include "properties/properties.hpp"

int main(int argc, char** argv) {
  kv::props::default_rc_params();
  kv::props::set_binary_path(argv[0]);
  testing::InitGoogleTest(&argc, argv);
  kv::props::register_state_machine_properties();
  return RUN_ALL_TESTS();
}
