// The one ownership check every zone-owned class uses: "this method runs on my owner thread".
// Fatal on violation (naming the zone, the owner and the caller) in builds with ownership checks
// (debug and sanitizer builds); compiled out in release. The setup phase (ScopedSetupPhase)
// counts as every zone's owner.
#pragma once

#include "engine/base/assert.h"
#include "engine/threads/zone_thread.h"

namespace vdofs::threads {

inline void assert_owner(const char* kind, uint32_t zone, ThreadId owner, const char* fn) {
#ifdef VDOFS_OWNERSHIP_CHECKS
  ThreadId c = current_thread();
  VDOFS_CHECK(c == owner || c == kAnyThread, "%s: %s %u is owned by thread %u, called on thread %u",
              fn, kind, zone, owner, c);
#else
  (void)kind;
  (void)zone;
  (void)owner;
  (void)fn;
#endif
}

}  // namespace vdofs::threads
