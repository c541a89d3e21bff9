// FailureKind's names and help, from runner/failure_kinds.def.
#include "runner/failure_kind.hpp"

#include <array>

namespace kv {
namespace {

struct Row {
  std::string_view name;
  std::string_view help;
};

constexpr std::array rows = {
#define KV_FAILURE_KIND(name, help) Row{#name, help},
#include "runner/failure_kinds.def"
};

}  // namespace

std::string kind_name(FailureKind kind) {
  return std::string(rows[static_cast<size_t>(kind)].name);
}

std::string_view kind_help(FailureKind kind) {
  return rows[static_cast<size_t>(kind)].help;
}

std::optional<FailureKind> parse_failure_kind(std::string_view name) {
  for (size_t i = 0; i < rows.size(); i++) {
    if (rows[i].name == name) return static_cast<FailureKind>(i);
  }
  return std::nullopt;
}

}  // namespace kv
