// The registry of backends: the names this build links, factories by name, and runs by name.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "runner/backend.hpp"
#include "runner/isolate.hpp"
#include "runner/runner.hpp"
#include "trace/capabilities.hpp"
#include "trace/config.hpp"

namespace kv {

// The backends this build can run here, by name: "host", "hip-emu", and "hip" with a GPU.
std::vector<std::string> backend_names();
// The one check of a --backend value: why `name` cannot be used here (unknown, "hip" without a
// device, an empty exec:); nullopt for a usable name, "all", `exec:CMD` or `so:PATH`.
std::optional<std::string> backend_name_problem(const std::string& name);
inline bool is_backend_name(const std::string& name) {
  return !backend_name_problem(name);
}
// What reports call the backend `name`: the NAME of an exec: backend's handshake (stable across
// its commits and however it is started), else `name` itself.
std::string backend_label(const std::string& name);
// "all, host, ...": the values a --backend option accepts, for help texts.
std::string backend_names_help();
// What a backend implements: all for in-tree backends; an external one's declared profile (this
// starts it and reads its handshake). "all" and lists intersect. A message when it cannot start.
std::variant<Capabilities, std::string> backend_capabilities(const std::vector<std::string>& names);
// A fresh backend; for exec:/so: one that may report broken() (never nullptr for a checked name).
std::unique_ptr<Backend> make_backend(std::string_view name, const Config& config);
// Fresh backends by name; "all" expands to every backend of this build. Names must be known.
std::vector<std::unique_ptr<Backend>> make_backends(const std::vector<std::string>& names,
                                                    const Config& config);
// A factory of fresh backends by name, for each replay (the shrinker's, an isolated child's).
BackendFactory backends_by_name(std::vector<std::string> names);

// Runs against freshly made backends (by name; "all" = every backend this build has).
RunReport run_trace(const Trace& trace, const std::vector<std::string>& backend_names_to_run,
                    AuditMode audit_mode);

// Backends by name ("all" = every backend of this build), made in the child; in this process
// when isolation does not help.
RunReport run_trace_isolated(const Trace& trace,
                             const std::vector<std::string>& backend_names_to_run,
                             AuditMode audit_mode, const IsolateOptions& options = {});

}  // namespace kv
