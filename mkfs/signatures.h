// Detects what a backing store already holds, so mkfs.vdofs refuses to overwrite it without
// --force: a vdofs volume, or an ext2/3/4, xfs or btrfs filesystem.
#pragma once

#include <string>

#include "engine/base/result.h"
#include "engine/io/block_device.h"

namespace vdofs::mkfs {

// "" when nothing is recognised, else a description such as "a vdofs volume" or "an ext4
// filesystem".
Result<std::string> detect_signature(io::BlockDevice& device);

}  // namespace vdofs::mkfs
