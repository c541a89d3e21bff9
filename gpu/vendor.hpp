// The vendor bridge: the few HIP runtime calls gpu/ uses, mapped onto HIP (hipcc), CUDA (nvcc) or
// the emulated device (KV_GPU_EMU, any C++ compiler). Kernels use kv_load/kv_store for memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#if defined(KV_GPU_EMU)
// ---- (c) the emulated device: plain C++, kernels run on the CPU ------------------------------
#include <chrono>

#include "gpu/emu_runtime.hpp"

#define KV_HOST_DEVICE
#define __host__
#define __device__
#define __global__

using hipError_t = kvemu::Error;
using dim3 = kvemu::dim3;
inline constexpr hipError_t hipSuccess = kvemu::success;
inline constexpr hipError_t hipErrorNoDevice = kvemu::invalid_value;
enum hipMemcpyKind : int { hipMemcpyHostToDevice, hipMemcpyDeviceToHost, hipMemcpyDeviceToDevice };

#define threadIdx (::kvemu::current.thread)
#define blockIdx (::kvemu::current.block)
#define blockDim (::kvemu::current.block_dim)
#define gridDim (::kvemu::current.grid_dim)

inline hipError_t hipMalloc(void** pointer, size_t bytes) {
  return kvemu::malloc_device(pointer, bytes);
}
inline hipError_t hipFree(void* pointer) {
  return kvemu::free_device(pointer);
}
inline hipError_t hipMemcpy(void* target, const void* source, size_t bytes, hipMemcpyKind) {
  return kvemu::memcpy_any(target, source, bytes);
}
inline hipError_t hipMemset(void* target, int value, size_t bytes) {
  return kvemu::memset_device(target, value, bytes);
}
inline hipError_t hipGetLastError() {
  return kvemu::get_last_error();
}
inline hipError_t hipDeviceSynchronize() {
  return kvemu::get_last_error();
}
inline hipError_t hipGetDeviceCount(int* count) {
  *count = 1;
  return hipSuccess;
}
inline const char* hipGetErrorString(hipError_t error) {
  return kvemu::error_string(error);
}

// Events time on the host clock (a launch is synchronous here).
using hipEvent_t = std::chrono::steady_clock::time_point*;
inline hipError_t hipEventCreate(hipEvent_t* event) {
  *event = new std::chrono::steady_clock::time_point();
  return hipSuccess;
}
inline hipError_t hipEventDestroy(hipEvent_t event) {
  delete event;
  return hipSuccess;
}
inline hipError_t hipEventRecord(hipEvent_t event, int) {
  *event = std::chrono::steady_clock::now();
  return hipSuccess;
}
inline hipError_t hipEventSynchronize(hipEvent_t) {
  return hipSuccess;
}
inline hipError_t hipEventElapsedTime(float* ms, hipEvent_t start, hipEvent_t stop) {
  *ms = std::chrono::duration<float, std::milli>(*stop - *start).count();
  return hipSuccess;
}

// Runs every thread of the grid on the calling CPU thread, in the seeded shuffled order.
#define hipLaunchKernelGGL(kernel, grid, block, shared_bytes, stream, ...) \
  ::kvemu::launch(#kernel, (grid), (block), [&] { kernel(__VA_ARGS__); })

template <class T>
[[gnu::always_inline]] inline T kv_load(const T* pointer) {
  return kvemu::access(pointer, sizeof(T), false) ? *pointer : T{};
}
template <class T>
[[gnu::always_inline]] inline void kv_store(T* pointer, T value) {
  if (kvemu::access(pointer, sizeof(T), true)) *pointer = value;
}
// The emulator's own words on the last error (the racing kernel, threads and word), if any.
inline std::string kv_gpu_error_detail(hipError_t) {
  return kvemu::last_error_detail();
}
inline void kv_gpu_label(const void* pointer, const char* name) {
  kvemu::label(pointer, name);
}
inline std::string kv_gpu_device_name() {
  return "emulated device (kvemu)";
}
inline constexpr const char* kv_gpu_platform = "emulated";

#elif defined(__CUDACC__)
// ---- (b) NVIDIA through nvcc: HIP names onto the CUDA runtime --------------------------------
// (Debian's HIP 5.2 NVIDIA headers do not compile against CUDA 13, hence this mapping.)
#include <cuda_runtime.h>

using hipError_t = cudaError_t;
inline constexpr hipError_t hipSuccess = cudaSuccess;
inline constexpr hipError_t hipErrorNoDevice = cudaErrorNoDevice;
using hipMemcpyKind = cudaMemcpyKind;
inline constexpr hipMemcpyKind hipMemcpyHostToDevice = cudaMemcpyHostToDevice;
inline constexpr hipMemcpyKind hipMemcpyDeviceToHost = cudaMemcpyDeviceToHost;
inline constexpr hipMemcpyKind hipMemcpyDeviceToDevice = cudaMemcpyDeviceToDevice;

inline hipError_t hipMalloc(void** pointer, size_t bytes) {
  return cudaMalloc(pointer, bytes);
}
inline hipError_t hipFree(void* pointer) {
  return cudaFree(pointer);
}
inline hipError_t hipMemcpy(void* target, const void* source, size_t bytes, hipMemcpyKind kind) {
  return cudaMemcpy(target, source, bytes, kind);
}
inline hipError_t hipMemset(void* target, int value, size_t bytes) {
  return cudaMemset(target, value, bytes);
}
inline hipError_t hipGetLastError() {
  return cudaGetLastError();
}
inline hipError_t hipDeviceSynchronize() {
  return cudaDeviceSynchronize();
}
inline hipError_t hipGetDeviceCount(int* count) {
  return cudaGetDeviceCount(count);
}
inline const char* hipGetErrorString(hipError_t error) {
  return cudaGetErrorString(error);
}
using hipEvent_t = cudaEvent_t;
inline hipError_t hipEventCreate(hipEvent_t* event) {
  return cudaEventCreate(event);
}
inline hipError_t hipEventDestroy(hipEvent_t event) {
  return cudaEventDestroy(event);
}
inline hipError_t hipEventRecord(hipEvent_t event, int) {
  return cudaEventRecord(event, 0);
}
inline hipError_t hipEventSynchronize(hipEvent_t event) {
  return cudaEventSynchronize(event);
}
inline hipError_t hipEventElapsedTime(float* ms, hipEvent_t start, hipEvent_t stop) {
  return cudaEventElapsedTime(ms, start, stop);
}

#define hipLaunchKernelGGL(kernel, grid, block, shared_bytes, stream, ...) \
  kernel<<<(grid), (block), (shared_bytes), (stream)>>>(__VA_ARGS__)

inline std::string kv_gpu_error_detail(hipError_t error) {
  return cudaGetErrorName(error);
}
inline std::string kv_gpu_device_name() {
  cudaDeviceProp properties{};
  return cudaGetDeviceProperties(&properties, 0) == cudaSuccess ? properties.name : "";
}
inline constexpr const char* kv_gpu_platform = "cuda";

#else
// ---- (a) AMD (or any HIP platform) through hipcc ---------------------------------------------
#include <hip/hip_runtime.h>

inline std::string kv_gpu_error_detail(hipError_t error) {
  return hipGetErrorName(error);
}
inline std::string kv_gpu_device_name() {
  hipDeviceProp_t properties{};
  return hipGetDeviceProperties(&properties, 0) == hipSuccess ? properties.name : "";
}
inline constexpr const char* kv_gpu_platform = "hip";
#endif

#if !defined(KV_GPU_EMU)
// On a real device (HIP or CUDA) kernel memory accesses are plain dereferences and allocations
// carry no label; only the emulated device checks and names them.
template <class T>
__device__ inline T kv_load(const T* pointer) {
  return *pointer;
}
template <class T>
__device__ inline void kv_store(T* pointer, T value) {
  *pointer = value;
}
inline void kv_gpu_label(const void*, const char*) {}
#endif

#include "impl/layout.hpp"  // after KV_HOST_DEVICE is settled for this platform
