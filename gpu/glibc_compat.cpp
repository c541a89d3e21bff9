// The two functions newer than glibc 2.34 that the cuda preset's static libstdc++ and libgcc call.
//
// The cuda preset links libstdc++ and libgcc statically (see gpu/CMakeLists.txt) so that its
// binaries run on a device machine with an older C library than Debian 12's 2.36. Two parts of
// those archives, built against glibc 2.36, call newer functions:
//   - GCC 12's unwinder (libgcc_eh.a) finds a frame's unwind tables with _dl_find_object
//     (GLIBC_2.35);
//   - libstdc++'s std::random_device (random.o) has an arc4random source (GLIBC_2.36).
// The definitions here, compiled into each such executable (an INTERFACE source of
// kv_gpu_device), are found before libc's, so the binaries need nothing newer than GLIBC_2.34
// (tests/bundle_check.sh checks it). They do what glibc's do, with older calls: dl_iterate_phdr
// (2.2.5) and getrandom (2.25).
#include <dlfcn.h>
#include <link.h>
#include <sys/random.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

struct Search {
  uintptr_t address;
  dl_find_object* result;
};

int find_in_object(dl_phdr_info* info, size_t /*size*/, void* data) {
  auto* search = static_cast<Search*>(data);
  uintptr_t lowest = UINTPTR_MAX;
  uintptr_t highest = 0;
  uintptr_t eh_frame = 0;
  bool holds_address = false;
  for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& segment = info->dlpi_phdr[i];
    const uintptr_t start = info->dlpi_addr + segment.p_vaddr;
    if (segment.p_type == PT_LOAD) {
      const uintptr_t end = start + segment.p_memsz;
      if (search->address >= start && search->address < end) holds_address = true;
      if (start < lowest) lowest = start;
      if (end > highest) highest = end;
    } else if (segment.p_type == PT_GNU_EH_FRAME) {
      eh_frame = start;
    }
  }
  if (!holds_address) return 0;
  dl_find_object* result = search->result;
  std::memset(result, 0, sizeof(*result));
  result->dlfo_map_start = reinterpret_cast<void*>(lowest);
  result->dlfo_map_end = reinterpret_cast<void*>(highest);
  result->dlfo_eh_frame = reinterpret_cast<void*>(eh_frame);
  return 1;
}

}  // namespace

// The loaded object whose PT_LOAD segments hold the address, and its PT_GNU_EH_FRAME segment.
extern "C" int _dl_find_object(void* address, dl_find_object* result) noexcept {
  Search search{reinterpret_cast<uintptr_t>(address), result};
  return dl_iterate_phdr(find_in_object, &search) != 0 ? 0 : -1;
}

// 32 random bits from the kernel; like glibc's, it aborts when there is no entropy source at all.
extern "C" uint32_t arc4random() noexcept {
  uint32_t value = 0;
  for (;;) {
    const ssize_t got = getrandom(&value, sizeof(value), 0);
    if (got == static_cast<ssize_t>(sizeof(value))) return value;
    if (got < 0 && errno != EINTR) std::abort();
  }
}
