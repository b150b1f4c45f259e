// Little-endian field access for on-disk structures (every multi-byte field is little-endian).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace vdofs::format {

inline void put_u8(std::byte* p, uint8_t v) { p[0] = std::byte{v}; }
inline uint8_t get_u8(const std::byte* p) { return std::to_integer<uint8_t>(p[0]); }

template <typename T, int N = sizeof(T)>
inline void put_le(std::byte* p, T v) {
  for (int i = 0; i < N; ++i)
    p[i] = std::byte(static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * i)));
}
template <typename T, int N = sizeof(T)>
inline T get_le(const std::byte* p) {
  uint64_t v = 0;
  for (int i = N - 1; i >= 0; --i) v = (v << 8) | std::to_integer<uint8_t>(p[i]);
  return static_cast<T>(v);
}

inline void put_u16(std::byte* p, uint16_t v) { put_le(p, v); }
inline void put_u32(std::byte* p, uint32_t v) { put_le(p, v); }
inline void put_u64(std::byte* p, uint64_t v) { put_le(p, v); }
inline uint16_t get_u16(const std::byte* p) { return get_le<uint16_t>(p); }
inline uint32_t get_u32(const std::byte* p) { return get_le<uint32_t>(p); }
inline uint64_t get_u64(const std::byte* p) { return get_le<uint64_t>(p); }
// 40-bit fields (block-map entries, journal keys).
inline void put_u40(std::byte* p, uint64_t v) { put_le<uint64_t, 5>(p, v); }
inline uint64_t get_u40(const std::byte* p) { return get_le<uint64_t, 5>(p); }

}  // namespace vdofs::format
