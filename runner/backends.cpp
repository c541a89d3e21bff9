// The registry of backends this build links: names and factories.
#include "runner/backend.hpp"
#include "runner/host_backend.hpp"

namespace kv {

std::vector<std::string> backend_names() {
  return {"host"};
}

std::unique_ptr<Backend> make_backend(std::string_view name, const Config& config) {
  if (name == "host") return std::make_unique<HostBackend>(config);
  return nullptr;
}

std::vector<std::unique_ptr<Backend>> make_backends(const std::vector<std::string>& names,
                                                    const Config& config) {
  std::vector<std::unique_ptr<Backend>> backends;
  for (const std::string& name : names) {
    const std::vector<std::string> expanded = name == "all" ? backend_names() : std::vector{name};
    for (const std::string& each : expanded) backends.push_back(make_backend(each, config));
  }
  return backends;
}

}  // namespace kv
