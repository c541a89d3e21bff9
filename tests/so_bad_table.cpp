// A C ABI version 2 library with a bad table, built three ways (tests/CMakeLists.txt): the harness
// refuses each with a message naming what is wrong (tests/so_backend_test.cpp).
#include "include/kvharness/backend.h"

namespace {

void* create(const kvh_config_v2*, char*, size_t) {
  return nullptr;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const kvh_backend_v2* kvh_backend_v2_entry() {
  static kvh_backend_v2 table = {};
  table.abi_version = KVH_ABI_VERSION_2;
  table.struct_size = sizeof(kvh_backend_v2);
  table.name = "bad";
  table.profile = "ops alloc\n";
  table.create = create;  // and every other entry NULL: KVH_BAD_NULL
#if defined(KVH_BAD_VERSION)
  table.abi_version = 7;
#elif defined(KVH_BAD_SIZE)
  table.struct_size = sizeof(kvh_backend_v1);
#endif
  return &table;
}
