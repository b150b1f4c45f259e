// A BlockDevice over a regular file or a block device (pread/pwrite/fdatasync).
#pragma once

#include <memory>
#include <string>

#include "engine/io/block_device.h"

namespace vdofs::io {

struct FileDeviceOptions {
  bool read_only = false;
  bool exclusive_lock = true;  // flock(LOCK_EX|LOCK_NB): refuse a backing store in use
  bool direct = false;         // O_DIRECT on the backing store (for everything)
  // Also open an O_DIRECT descriptor, used for I/O whose buffers, offset and length are all
  // 4 KiB-aligned (the engine's data blocks); everything else stays buffered. Silently off where
  // the filesystem refuses O_DIRECT (tmpfs).
  bool direct_aligned = false;
};

class FileDevice final : public BlockDevice {
 public:
  static Result<std::unique_ptr<FileDevice>> open(const std::string& path,
                                                  const FileDeviceOptions& options);
  ~FileDevice() override;
  FileDevice(const FileDevice&) = delete;
  FileDevice& operator=(const FileDevice&) = delete;

  uint64_t block_count() const override { return blocks_; }
  Result<void> read(uint64_t block, std::span<std::byte> out) override;
  Result<void> write(uint64_t block, std::span<const std::byte> data) override;
  Result<void> writev(uint64_t block, std::span<const std::span<const std::byte>> buffers) override;
  Result<void> readv(uint64_t block, std::span<const std::span<std::byte>> buffers) override;
  void will_read(uint64_t block, uint64_t blocks) override;
  Result<void> flush() override;
  std::string name() const override { return path_; }

  bool is_block_device() const { return is_bdev_; }
  int fd() const { return fd_; }

 private:
  FileDevice(std::string path, int fd, uint64_t blocks, bool bdev)
      : path_(std::move(path)), fd_(fd), blocks_(blocks), is_bdev_(bdev) {}
  template <typename Span>
  Result<void> vectored(uint64_t block, std::span<const Span> buffers, bool is_read);
  int fd_for(const void* buf, size_t len) const {
    return direct_fd_ >= 0 && (reinterpret_cast<uintptr_t>(buf) % kBlockSize) == 0 &&
                   len % kBlockSize == 0
               ? direct_fd_
               : fd_;
  }
  std::string path_;
  int fd_;
  int direct_fd_ = -1;
  uint64_t blocks_;
  bool is_bdev_;
};

// Size in bytes of a regular file or block device at `path`.
Result<uint64_t> device_size_bytes(int fd, bool* is_block_device);

}  // namespace vdofs::io
