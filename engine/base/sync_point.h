// Named points in the engine where tests can intervene ("crash exactly here"). A test installs
// one hook; every VDOFS_SYNC_POINT("name") calls it with the name, on whatever thread reaches it.
// Compiled out in release builds (NDEBUG).
#pragma once

namespace vdofs {

using SyncPointHook = void (*)(const char* name, void* arg);
// Installs (or with nullptr removes) the process-wide hook.
void set_sync_point_hook(SyncPointHook hook, void* arg);
void sync_point(const char* name);

}  // namespace vdofs

#ifdef NDEBUG
#define VDOFS_SYNC_POINT(name) \
  do {                         \
  } while (0)
#else
#define VDOFS_SYNC_POINT(name) ::vdofs::sync_point(name)
#endif
