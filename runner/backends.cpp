// The registry of backends this build links: names and factories.
#include "runner/backend.hpp"
#include "runner/host_backend.hpp"

namespace kv {

std::vector<std::string> backend_names() { return {"host"}; }

std::unique_ptr<Backend> make_backend(std::string_view name, const Config& config) {
  if (name == "host") return std::make_unique<HostBackend>(config);
  return nullptr;
}

}  // namespace kv
