// The registry of backends: the names this build links, `exec:CMD` for caches outside it,
// factories, and why a name cannot run here. Every tool resolves --backend values here.
#include "backends/backends.hpp"

#include <algorithm>

#include "backends/exec_backend.hpp"
#include "backends/hip_backend.hpp"
#include "backends/host_backend.hpp"
#include "backends/so_backend.hpp"

namespace kv {
namespace {

// Why backend `hip` cannot run in this process ("" when it can); asked once.
const std::string& hip_problem() {
#if defined(KV_HAVE_GPU_DEVICE)
  static const std::string problem = [] {
    const std::string reason = kvgpu::device_problem();
    return reason.empty() ? reason : "no GPU device: " + reason;
  }();
#else
  static const std::string problem =
      "this build has no GPU toolchain (configure with preset hip or cuda)";
#endif
  return problem;
}

constexpr std::string_view exec_prefix = "exec:";
constexpr std::string_view so_prefix = "so:";

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::vector<std::string> backend_names() {
  std::vector<std::string> names = {"host", "hip-emu"};
  if (hip_problem().empty()) names.push_back("hip");
  return names;
}

std::variant<Capabilities, std::string> backend_capabilities(
    const std::vector<std::string>& names) {
  Capabilities caps = Capabilities::all();
  // All is what the in-tree backends implement; a list of external backends only is limited by
  // their own profiles, also where they go beyond the in-tree ones (KV groups, section 17).
  const bool external_only = std::all_of(names.begin(), names.end(), [](const std::string& name) {
    return starts_with(name, so_prefix) || starts_with(name, exec_prefix);
  });
  if (external_only && !names.empty()) caps.kv_groups = {0, kv_groups_max};
  for (const std::string& name : names) {
    if (starts_with(name, so_prefix)) {
      auto library = load_so_library(name.substr(so_prefix.size()));
      if (auto* error = std::get_if<std::string>(&library)) {
        return "backend " + name + " did not load: " + *error;
      }
      caps = intersect(caps, std::get<const SoLibrary*>(library)->caps);
      continue;
    }
    if (!starts_with(name, exec_prefix)) continue;
    auto session = acquire_exec_session(name.substr(exec_prefix.size()));
    if (auto* error = std::get_if<std::string>(&session)) {
      return "backend " + name + " did not start: " + *error;
    }
    auto& started = std::get<std::unique_ptr<ExecSession>>(session);
    caps = intersect(caps, started->caps);
    release_exec_session(std::move(started));
  }
  return caps;
}

std::string backend_label(const std::string& name) {
  if (!starts_with(name, exec_prefix)) return name;
  auto session = acquire_exec_session(name.substr(exec_prefix.size()));
  if (!std::holds_alternative<std::unique_ptr<ExecSession>>(session)) return name;
  auto& started = std::get<std::unique_ptr<ExecSession>>(session);
  const std::string label = started->backend_name.empty() ? name : started->backend_name;
  release_exec_session(std::move(started));
  return label;
}

std::string backend_names_help() {
  std::string out = "all";
  for (const std::string& known : backend_names()) out += ", " + known;
  return out + ", exec:CMD";
}

std::unique_ptr<Backend> make_backend(std::string_view name, const Config& config) {
  if (name == "host") return std::make_unique<HostBackend>(config);
  if (name == "hip-emu") {
    return std::make_unique<HipBackend>(
        config, kvgpu::make_emu_page_store(to_cache_config(config), emu_seed()), "hip-emu");
  }
#if defined(KV_HAVE_GPU_DEVICE)
  if (name == "hip" && hip_problem().empty()) {
    return std::make_unique<HipBackend>(
        config, kvgpu::make_device_page_store(to_cache_config(config)), "hip");
  }
#endif
  if (starts_with(name, so_prefix)) {
    auto library = load_so_library(std::string(name.substr(so_prefix.size())));
    if (auto* error = std::get_if<std::string>(&library)) {
      return make_so_backend(std::string(name), nullptr, *error, config);
    }
    return make_so_backend(std::string(name), std::get<const SoLibrary*>(library), "", config);
  }
  if (starts_with(name, exec_prefix)) {
    auto session = acquire_exec_session(std::string(name.substr(exec_prefix.size())));
    if (auto* error = std::get_if<std::string>(&session)) {
      return std::make_unique<ExecBackend>(std::string(name), nullptr, *error, config);
    }
    return std::make_unique<ExecBackend>(
        std::string(name), std::move(std::get<std::unique_ptr<ExecSession>>(session)), "", config);
  }
  return nullptr;
}

std::optional<std::string> backend_name_problem(const std::string& name) {
  if (name == "all") return std::nullopt;
  const std::vector<std::string> known = backend_names();
  for (const std::string& each : known) {
    if (each == name) return std::nullopt;
  }
  if (name == "hip") return "backend 'hip' cannot run here: " + hip_problem();
  if (starts_with(name, exec_prefix)) {
    if (name.size() > exec_prefix.size()) return std::nullopt;
    return std::string("backend 'exec:' needs a command: exec:CMD (docs/backend-protocol.md)");
  }
  if (starts_with(name, so_prefix)) {
    if (name.size() > so_prefix.size()) return std::nullopt;
    return std::string("backend 'so:' needs a library: so:PATH (include/kvharness/backend.h)");
  }
  std::string list;
  for (const std::string& each : known) list += (list.empty() ? "" : ", ") + each;
  return "unknown backend '" + name + "' (this build has: " + list +
         ", all; exec:CMD for a cache in another process, so:PATH for a C ABI library)";
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

RunReport run_trace(const Trace& trace, const std::vector<std::string>& backend_names_to_run,
                    AuditMode audit_mode) {
  std::vector<std::unique_ptr<Backend>> backends =
      make_backends(backend_names_to_run, trace.config);
  return run_trace(trace, backends, audit_mode);
}

RunReport run_trace_isolated(const Trace& trace,
                             const std::vector<std::string>& backend_names_to_run,
                             AuditMode audit_mode, const IsolateOptions& options) {
  if (!isolation_helps(backend_names_to_run)) {
    return run_trace(trace, backend_names_to_run, audit_mode);
  }
  return run_trace_isolated(
      trace, [&](const Config& config) { return make_backends(backend_names_to_run, config); },
      audit_mode, options);
}

BackendFactory backends_by_name(std::vector<std::string> names) {
  return [names = std::move(names)](const Config& config) { return make_backends(names, config); };
}

}  // namespace kv
