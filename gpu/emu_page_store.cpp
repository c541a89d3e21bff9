// HipPageStore on the emulated device: hip_page_store.hip built by the host compiler (KV_GPU_EMU).
#define KV_GPU_EMU 1
#include "gpu/hip_page_store.hip"
