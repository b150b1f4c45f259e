// Fatal assertions. VDOFS_CHECK is always on (invariants whose violation would corrupt data);
// VDOFS_DCHECK compiles out with NDEBUG.
#pragma once

namespace vdofs {
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
}  // namespace vdofs

#define VDOFS_CHECK(cond, ...)                                           \
  do {                                                                   \
    if (__builtin_expect(!(cond), 0))                                    \
      ::vdofs::check_failed(__FILE__, __LINE__, #cond, " " __VA_ARGS__); \
  } while (0)

#ifdef NDEBUG
#define VDOFS_DCHECK(cond, ...) \
  do {                          \
  } while (0)
#else
#define VDOFS_DCHECK(cond, ...) VDOFS_CHECK(cond, __VA_ARGS__)
#endif
