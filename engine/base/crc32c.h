// CRC32C (Castagnoli), the checksum of every vdofs metadata block and sector.
// Uses the SSE4.2 crc32 instruction when the CPU has it, a slicing table otherwise.
// (Debian 12 packages no C/C++ CRC32C library, so this small routine is our own.)
#pragma once

#include <cstddef>
#include <cstdint>

namespace vdofs {

// Continues a CRC: crc32c(crc32c(0, a), b) == crc32c over a then b.
uint32_t crc32c(uint32_t crc, const void* data, size_t len) noexcept;

inline uint32_t crc32c(const void* data, size_t len) noexcept { return crc32c(0, data, len); }

}  // namespace vdofs
