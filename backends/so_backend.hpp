// Backend `so:PATH`: a cache in a shared library that exports the C ABI of
// include/kvharness/backend.h, loaded with dlopen and called in process.
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "include/kvharness/backend.h"
#include "runner/backend.hpp"

namespace kv {

// A loaded library: its function table (version 2 when it exports kvh_backend_v2_entry, else
// version 1) and its parsed profile. Libraries stay loaded.
struct SoLibrary {
  const kvh_backend_v1* table = nullptr;     // version 1 (null for a version 2 library)
  const kvh_backend_v2* table_v2 = nullptr;  // version 2 (null for a version 1 library)
  Capabilities caps;
};

// Loads PATH (once per process) and checks its ABI version; the reason when it cannot.
std::variant<const SoLibrary*, std::string> load_so_library(const std::string& path);

// The backend for a library of either version; `library` null: broken from the start with
// `load_error`.
std::unique_ptr<Backend> make_so_backend(std::string name, const SoLibrary* library,
                                         std::string load_error, const Config& config);

// A version 1 library (kvtrace 1 only).
class SoBackend final : public Backend {
 public:
  // `library` is null when it could not load; then the backend is broken from the start.
  SoBackend(std::string name, const SoLibrary* library, std::string load_error,
            const Config& config);
  ~SoBackend() override;
  SoBackend(const SoBackend&) = delete;
  SoBackend& operator=(const SoBackend&) = delete;

  std::string_view name() const override { return name_; }
  OpResult apply(const Op& op, Tick tick) override;
  const std::vector<uint32_t>& last_read_words() const override { return last_read_; }
  StatsView stats() const override;
  std::optional<InfoView> info(SeqId seq) const override;
  std::vector<SeqId> sequence_ids() const override;
  std::vector<uint64_t> block_table(SeqId seq) const override;
  std::vector<uint32_t> gather_words(SeqId seq) override;
  std::vector<std::string> audit() const override;
  std::optional<std::string> broken() const override { return broken_; }
  bool stores_data() const override { return !library_ || library_->caps.stores_data; }

 private:
  std::string name_;
  const SoLibrary* library_;
  void* cache_ = nullptr;
  std::optional<std::string> broken_;
  std::vector<kvh_result> results_;  // scratch for apply
  std::vector<kvh_step_entry> entries_;
  std::vector<uint32_t> last_read_;
};

// A version 2 library: everything exec: protocol 2 offers.
class SoBackendV2 final : public Backend {
 public:
  SoBackendV2(std::string name, const SoLibrary& library, const Config& config);
  ~SoBackendV2() override;
  SoBackendV2(const SoBackendV2&) = delete;
  SoBackendV2& operator=(const SoBackendV2&) = delete;

  std::string_view name() const override { return name_; }
  OpResult apply(const Op& op, Tick tick) override;
  const std::vector<uint32_t>& last_read_words() const override { return last_read_; }
  StatsView stats() const override;
  std::optional<InfoView> info(SeqId seq) const override;
  std::vector<SeqId> sequence_ids() const override;
  std::vector<uint64_t> block_table(SeqId seq) const override;
  std::vector<uint32_t> gather_words(SeqId seq) override;
  std::vector<uint32_t> gather_token_words(SeqId seq, uint64_t first_token,
                                           uint64_t token_count) override;
  std::vector<std::string> audit() const override;
  std::optional<std::string> broken() const override { return broken_; }
  bool stores_data() const override { return library_.caps.stores_data; }
  Declined declined() const override { return library_.caps.declined; }
  std::optional<PrefixCacheView> prefix_cache() const override;

 private:
  std::string name_;
  const SoLibrary& library_;
  const kvh_backend_v2& table_;
  Config config_;
  void* cache_ = nullptr;
  mutable std::optional<std::string> broken_;  // prefix_cache() may find the library broken
  std::vector<kvh_result_v2> results_;         // scratch for apply
  std::vector<kvh_step_entry> entries_;
  std::vector<kvh_segment> segments_;
  std::vector<uint32_t> words_;  // scratch for gathers
  std::vector<uint32_t> last_read_;
};

}  // namespace kv
