// ThreadSanitizer annotations for hand-offs through oneTBB. libtbb is not instrumented, so TSan
// cannot see that a message pushed on one thread and popped on another is ordered; these mark
// the hand-off itself (release on send, acquire on receive) so TSan checks everything else.
// Compiled out unless building with -fsanitize=thread.
#pragma once

#if defined(__SANITIZE_THREAD__)
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#define VDOFS_TSAN_RELEASE(p) __tsan_release(static_cast<void*>(p))
#define VDOFS_TSAN_ACQUIRE(p) __tsan_acquire(static_cast<void*>(p))
#else
#define VDOFS_TSAN_RELEASE(p) \
  do {                        \
  } while (0)
#define VDOFS_TSAN_ACQUIRE(p) \
  do {                        \
  } while (0)
#endif
