// IoRequest: one I/O handed to a bio thread (bioQ<n>). The bio thread performs it with the
// synchronous BlockDevice call and sends the request back to `reply_thread` by running
// callback(arg) there. A kBatch request writes several extents in order, optionally preceded by a
// flush (only if a data write completed since the last flush) and followed by a flush: that is a
// recovery-journal commit (PREFLUSH + FUA) or a metadata write-back.
#pragma once

#include <cstdint>
#include <system_error>
#include <vector>

#include "engine/base/types.h"

namespace vdofs::engine {

class Volume;

enum class IoKind : uint8_t { kRead, kWrite, kFlush, kBatch };

struct WriteExtent {
  uint64_t block;
  const std::byte* data;  // one block
};

struct IoRequest {
  IoKind kind = IoKind::kRead;
  uint64_t block = 0;
  uint32_t blocks = 1;
  std::byte* buffer = nullptr;
  bool is_data = false;              // a data-block write (makes the next preflush necessary)
  std::vector<WriteExtent> extents;  // kBatch
  bool preflush = false;             // kBatch: flush first if data was written since the last flush
  bool postflush = false;            // kBatch: flush after the writes
  uint32_t reply_thread = 0;
  void (*callback)(void*) = nullptr;
  void* arg = nullptr;
  std::error_code result;
  Volume* volume = nullptr;  // set by Volume::submit_io
};

}  // namespace vdofs::engine
