#include "mkfs/signatures.h"

#include <cstring>
#include <vector>

#include "engine/format/geometry.h"

namespace vdofs::mkfs {

Result<std::string> detect_signature(io::BlockDevice& device) {
  const uint64_t blocks = std::min<uint64_t>(device.block_count(), 17);
  if (blocks == 0) return std::string();
  std::vector<std::byte> buf(blocks * kBlockSize);
  VDOFS_TRY(device.read(0, buf));
  auto at = [&](size_t off, const char* magic, size_t n) {
    return off + n <= buf.size() && memcmp(buf.data() + off, magic, n) == 0;
  };
  if (at(0, format::kGeometryMagic, 8)) return std::string("a vdofs volume");
  if (at(1080, "\x53\xEF", 2)) return std::string("an ext2/3/4 filesystem");
  if (at(0, "XFSB", 4)) return std::string("an xfs filesystem");
  if (at(65536 + 64, "_BHRfS_M", 8)) return std::string("a btrfs filesystem");
  return std::string();
}

}  // namespace vdofs::mkfs
