// Parsing and printing of sizes with K/M/G/T/P suffixes (powers of 1024), as the CLIs take them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vdofs {

// "64G" -> 68719476736. Accepts an optional trailing "B"/"iB". nullopt on garbage or overflow.
std::optional<uint64_t> parse_size(std::string_view text);
// 68719476736 -> "64.0 GiB"
std::string format_size(uint64_t bytes);

}  // namespace vdofs
