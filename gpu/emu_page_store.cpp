// HipPageStore on the emulated device: hip_page_store.hip built by the host compiler (KV_GPU_EMU).
#define KV_GPU_EMU 1
#include "gpu/hip_page_store.hip"

namespace kvgpu {
namespace {

// Every HipPageStore kernel loops over its items with the grid's stride, so the emulated device
// may run it on fewer blocks than it asks for (gpu/emu_runtime.hpp): its grid-stride loops then
// run several times per thread on small launches too.
const bool grid_stride_declared = [] {
  for (const char* kernel : {"write_tokens_kernel", "copy_pages_kernel", "gather_kernel"}) {
    kvemu::declare_grid_stride(kernel);
  }
  return true;
}();

}  // namespace
}  // namespace kvgpu
