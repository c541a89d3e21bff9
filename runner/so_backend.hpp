// Backend `so:PATH`: a cache in a shared library that exports the C ABI of
// include/kvharness/backend.h, loaded with dlopen and called in process.
#pragma once

#include <memory>
#include <string>
#include <variant>

#include "include/kvharness/backend.h"
#include "runner/backend.hpp"

namespace kv {

// A loaded library: its function table and its parsed profile. Libraries stay loaded.
struct SoLibrary {
  const kvh_backend_v1* table = nullptr;
  Capabilities caps;
};

// Loads PATH (once per process) and checks its ABI version; the reason when it cannot.
std::variant<const SoLibrary*, std::string> load_so_library(const std::string& path);

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

}  // namespace kv
