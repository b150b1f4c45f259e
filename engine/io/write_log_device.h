// Wraps a BlockDevice and records every completed write (block, length, data) and every completed
// flush into a log file, in the shape of Linux's dm-log-writes. tools/vdofs-replay-log rebuilds
// the backing store from the log at any flush point, or at a crash point between flushes, so a
// test can check what a power failure at that moment would have left (docs/write-log.md).
//
// Ordering: a write is logged after the inner write returned and before write() returns to the
// engine; a flush records how many writes had been logged when it was called (exactly the writes
// it must make durable) and is logged after the inner flush returned. A write or flush that fails
// is not logged. Appends to the log take a mutex: this device is a test instrument (vdofs -o
// write_log=PATH), never the data path of a production mount. A log append that fails fails the
// operation with EIO, so a log with a hole is never mistaken for a complete one.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "engine/io/block_device.h"

namespace vdofs::io {

// The log file's bytes (little-endian), shared with tools/vdofs-replay-log.
namespace write_log {
inline constexpr char kMagic[8] = {'V', 'D', 'O', 'F', 'S', 'W', 'L', 'G'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kHeaderBytes = 64;  // magic, version, block size, device blocks, crc
inline constexpr size_t kRecordBytes = 32;  // record header; a write's data follows it
inline constexpr uint32_t kWrite = 1;
inline constexpr uint32_t kFlush = 2;

struct Header {
  uint32_t version = kVersion;
  uint32_t block_size = 0;
  uint64_t device_blocks = 0;
};
struct Record {
  uint32_t type = 0;
  uint32_t crc = 0;     // CRC32C of the record header (crc field zero) and then the data
  uint64_t seq = 0;     // record number, from 0
  uint64_t arg = 0;     // write: first block; flush: writes logged before the flush was called
  uint64_t blocks = 0;  // write: length in blocks; flush: 0
};

void encode_header(const Header& h, std::byte* out);  // kHeaderBytes
Result<Header> decode_header(const std::byte* in);
void encode_record(const Record& r, std::byte* out);  // kRecordBytes, crc as given
Record decode_record(const std::byte* in);
// The crc a record must carry: over its encoded header with crc = 0, then its data buffers.
uint32_t record_crc(const Record& r, std::span<const std::span<const std::byte>> data);
}  // namespace write_log

class WriteLogDevice final : public BlockDevice {
 public:
  // Creates (truncates) the log at `path` and writes its header.
  static Result<std::unique_ptr<WriteLogDevice>> create(std::unique_ptr<BlockDevice> inner,
                                                        const std::string& path);
  ~WriteLogDevice() override;
  WriteLogDevice(const WriteLogDevice&) = delete;
  WriteLogDevice& operator=(const WriteLogDevice&) = delete;

  uint64_t block_count() const override { return inner_->block_count(); }
  Result<void> read(uint64_t block, std::span<std::byte> out) override;
  Result<void> readv(uint64_t block, std::span<const std::span<std::byte>> buffers) override;
  void will_read(uint64_t block, uint64_t blocks) override { inner_->will_read(block, blocks); }
  Result<void> write(uint64_t block, std::span<const std::byte> data) override;
  Result<void> writev(uint64_t block, std::span<const std::span<const std::byte>> buffers) override;
  Result<void> flush() override;
  std::string name() const override { return inner_->name(); }

  uint64_t writes_logged() const;
  uint64_t flushes_logged() const;

 private:
  WriteLogDevice(std::unique_ptr<BlockDevice> inner, int fd, std::string path)
      : inner_(std::move(inner)), fd_(fd), path_(std::move(path)) {}
  // Appends one record (and its data) under mu_.
  Result<void> append(write_log::Record r, std::span<const std::span<const std::byte>> data);

  std::unique_ptr<BlockDevice> inner_;
  int fd_;
  std::string path_;
  mutable std::mutex mu_;  // orders appends; a test instrument, see above
  uint64_t seq_ = 0;
  uint64_t writes_ = 0;
  uint64_t flushes_ = 0;
  bool broken_ = false;  // an append failed: every later operation fails
};

}  // namespace vdofs::io
