// vdofs's own error codes, registered as an error_category so they travel in std::error_code
// beside system errors. to_errno() is the one place where any error becomes an errno (for FUSE
// replies and process exit codes).
#pragma once

#include <string>
#include <system_error>

namespace vdofs {

enum class errc {
  ok = 0,
  no_space = 1,       // no free physical block and no dedupe possible
  read_only,          // the volume is in read-only mode
  checksum_mismatch,  // a metadata block failed its CRC32C
  bad_magic,          // not a vdofs volume (geometry magic missing)
  bad_version,        // a vdofs volume of a version this build cannot read
  bad_nonce,          // a metadata block belongs to another volume/format
  corrupt_metadata,   // metadata decodes but is impossible (refcount underflow, bad pointer)
  corrupt_journal,    // the recovery journal cannot be replayed
  out_of_range,       // LBN or PBN outside the volume
  invalid_argument,   // a caller passed something impossible
  component_busy,     // operation refused because something else is running
  shutting_down,      // the volume is stopping
  timed_out,          // a bounded wait expired (index advice, drain)
  io_error,           // an injected or unspecified I/O failure
  too_small,          // a size below what the format needs
  exists,             // a signature of a volume/filesystem is already there
};

const std::error_category& vdofs_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), vdofs_category()};
}

// Maps any error to the errno a FUSE reply or exit path should carry.
int to_errno(std::error_code ec) noexcept;

// "what (code)" text for logs and one-line errors.
std::string describe(std::error_code ec);

// A system error_code from errno (or an explicit value).
std::error_code errno_code(int e) noexcept;
std::error_code last_errno_code() noexcept;

}  // namespace vdofs

template <>
struct std::is_error_code_enum<vdofs::errc> : std::true_type {};
