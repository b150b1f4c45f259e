// The daemon sits under the filesystems it serves (a loop device, ext4 on top): memory it needs to
// make progress must not wait for writeback that waits for the daemon, and the OOM killer must not
// pick it while the kernel cleans pages through it.
#pragma once

#include <string>
#include <vector>

namespace vdofs::fusefs {

// PR_SET_IO_FLUSHER (allocations behave as GFP_NOIO, no dirty throttling against itself) for the
// calling thread and every thread it creates later, and oom_score_adj -1000. Either may be
// refused without CAP_SYS_RESOURCE: the returned warnings are logged by the caller once the
// command line and the volumes have been checked (errors stay one line), and the daemon goes on.
std::vector<std::string> protect_from_memory_pressure();

}  // namespace vdofs::fusefs
