// SHA-1 of a byte string as hex: the name libFuzzer gives a crash artifact (crash-<sha1>).
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace kv::fuzz {

std::string sha1_hex(std::span<const uint8_t> bytes);

}  // namespace kv::fuzz
