#include "engine/io/write_log_device.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "engine/base/crc32c.h"
#include "engine/base/log.h"

namespace vdofs::io {

namespace write_log {

namespace {
void put32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
void put64(std::byte* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}
uint32_t get32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
uint64_t get64(const std::byte* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}
}  // namespace

// Header: 0 magic[8], 8 version u32, 12 block size u32, 16 device blocks u64, 24..59 zero,
// 60 crc32c of bytes 0..59.
void encode_header(const Header& h, std::byte* out) {
  memset(out, 0, kHeaderBytes);
  memcpy(out, kMagic, sizeof kMagic);
  put32(out + 8, h.version);
  put32(out + 12, h.block_size);
  put64(out + 16, h.device_blocks);
  put32(out + 60, crc32c(out, 60));
}

Result<Header> decode_header(const std::byte* in) {
  if (memcmp(in, kMagic, sizeof kMagic) != 0) return errc::bad_magic;
  if (get32(in + 60) != crc32c(in, 60)) return errc::checksum_mismatch;
  Header h;
  h.version = get32(in + 8);
  h.block_size = get32(in + 12);
  h.device_blocks = get64(in + 16);
  if (h.version != kVersion) return errc::bad_version;
  if (h.block_size != kBlockSize) return errc::invalid_argument;
  return h;
}

// Record: 0 type u32, 4 crc u32, 8 seq u64, 16 arg u64, 24 blocks u64.
void encode_record(const Record& r, std::byte* out) {
  put32(out, r.type);
  put32(out + 4, r.crc);
  put64(out + 8, r.seq);
  put64(out + 16, r.arg);
  put64(out + 24, r.blocks);
}

Record decode_record(const std::byte* in) {
  return {get32(in), get32(in + 4), get64(in + 8), get64(in + 16), get64(in + 24)};
}

uint32_t record_crc(const Record& r, std::span<const std::span<const std::byte>> data) {
  Record z = r;
  z.crc = 0;
  std::byte hdr[kRecordBytes];
  encode_record(z, hdr);
  uint32_t crc = crc32c(hdr, sizeof hdr);
  for (auto d : data) crc = crc32c(crc, d.data(), d.size());
  return crc;
}

}  // namespace write_log

Result<std::unique_ptr<WriteLogDevice>> WriteLogDevice::create(std::unique_ptr<BlockDevice> inner,
                                                               const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return std::error_code(errno, std::generic_category());
  write_log::Header h;
  h.block_size = kBlockSize;
  h.device_blocks = inner->block_count();
  std::byte hdr[write_log::kHeaderBytes];
  write_log::encode_header(h, hdr);
  if (::write(fd, hdr, sizeof hdr) != static_cast<ssize_t>(sizeof hdr)) {
    std::error_code ec(errno ? errno : EIO, std::generic_category());
    ::close(fd);
    return ec;
  }
  return std::unique_ptr<WriteLogDevice>(new WriteLogDevice(std::move(inner), fd, path));
}

WriteLogDevice::~WriteLogDevice() { ::close(fd_); }

Result<void> WriteLogDevice::read(uint64_t block, std::span<std::byte> out) {
  return inner_->read(block, out);
}

Result<void> WriteLogDevice::readv(uint64_t block, std::span<const std::span<std::byte>> buffers) {
  return inner_->readv(block, buffers);
}

Result<void> WriteLogDevice::write(uint64_t block, std::span<const std::byte> data) {
  std::span<const std::byte> one[1] = {data};
  return writev(block, one);
}

Result<void> WriteLogDevice::writev(uint64_t block,
                                    std::span<const std::span<const std::byte>> buffers) {
  VDOFS_TRY(inner_->writev(block, buffers));
  uint64_t bytes = 0;
  for (auto b : buffers) bytes += b.size();
  write_log::Record r;
  r.type = write_log::kWrite;
  r.arg = block;
  r.blocks = bytes / kBlockSize;
  return append(r, buffers);
}

Result<void> WriteLogDevice::flush() {
  uint64_t covers;
  {
    std::lock_guard lock(mu_);
    if (broken_) return errc::io_error;
    covers = writes_;
  }
  VDOFS_TRY(inner_->flush());
  write_log::Record r;
  r.type = write_log::kFlush;
  r.arg = covers;
  return append(r, {});
}

Result<void> WriteLogDevice::append(write_log::Record r,
                                    std::span<const std::span<const std::byte>> data) {
  std::lock_guard lock(mu_);
  if (broken_) return errc::io_error;
  r.seq = seq_;
  r.crc = write_log::record_crc(r, data);
  std::byte hdr[write_log::kRecordBytes];
  write_log::encode_record(r, hdr);
  std::vector<iovec> iov;
  iov.reserve(data.size() + 1);
  iov.push_back({hdr, sizeof hdr});
  for (auto d : data) iov.push_back({const_cast<std::byte*>(d.data()), d.size()});
  size_t i = 0;
  while (i < iov.size()) {
    int n = static_cast<int>(std::min<size_t>(iov.size() - i, IOV_MAX));
    ssize_t w = ::writev(fd_, iov.data() + i, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      broken_ = true;
      log::error("%s: cannot append to the write log %s: %s", inner_->name().c_str(), path_.c_str(),
                 strerror(w < 0 ? errno : EIO));
      return errc::io_error;
    }
    auto left = static_cast<size_t>(w);
    while (i < iov.size() && left >= iov[i].iov_len) left -= iov[i++].iov_len;
    if (left > 0) {
      iov[i].iov_base = static_cast<char*>(iov[i].iov_base) + left;
      iov[i].iov_len -= left;
    }
  }
  ++seq_;
  if (r.type == write_log::kWrite) {
    ++writes_;
  } else {
    ++flushes_;
  }
  return ok();
}

uint64_t WriteLogDevice::writes_logged() const {
  std::lock_guard lock(mu_);
  return writes_;
}

uint64_t WriteLogDevice::flushes_logged() const {
  std::lock_guard lock(mu_);
  return flushes_;
}

}  // namespace vdofs::io
