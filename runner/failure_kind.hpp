// FailureKind: what went wrong first in a run, one enumerator per row of runner/failure_kinds.def.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace kv {

enum class FailureKind : uint8_t {
#define KV_FAILURE_KIND(name, help) name,
#include "runner/failure_kinds.def"
};

inline constexpr uint8_t failure_kind_count = 0
#define KV_FAILURE_KIND(name, help) +1
#include "runner/failure_kinds.def"
    ;

// The row's name: `result`, `crash`, ...
std::string kind_name(FailureKind kind);
// What the kind means, in words (the row's help).
std::string_view kind_help(FailureKind kind);
// The kind named `name`, if there is one.
std::optional<FailureKind> parse_failure_kind(std::string_view name);

inline std::ostream& operator<<(std::ostream& out, FailureKind kind) {
  return out << kind_name(kind);
}

}  // namespace kv
