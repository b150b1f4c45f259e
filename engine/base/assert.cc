#include "engine/base/assert.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

namespace vdofs {

void check_failed(const char* file, int line, const char* expr, const char* fmt, ...) {
  char msg[512] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  const char* m = msg[0] == ' ' ? msg + 1 : msg;  // the macro prefixes one space
  fprintf(stderr, "vdofs: fatal: %s:%d: check failed: %s%s%s\n", file, line, expr, m[0] ? ": " : "",
          m);
  fflush(stderr);
  abort();
}

}  // namespace vdofs
