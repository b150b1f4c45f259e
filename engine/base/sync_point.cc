#include "engine/base/sync_point.h"

#include <atomic>

namespace vdofs {

namespace {
std::atomic<SyncPointHook> g_hook{nullptr};
std::atomic<void*> g_arg{nullptr};
}  // namespace

void set_sync_point_hook(SyncPointHook hook, void* arg) {
  g_arg.store(arg);
  g_hook.store(hook);
}

void sync_point(const char* name) {
  if (SyncPointHook h = g_hook.load(std::memory_order_acquire)) h(name, g_arg.load());
}

}  // namespace vdofs
