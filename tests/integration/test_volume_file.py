#!/usr/bin/env python3
"""The volume file's semantics through a real FUSE mount: any offset and length, O_DIRECT,
fsync, punch-hole and zero-range discards that return space, st_blocks, statfs, refused namespace
operations, clean shutdown by unmount and by SIGTERM, and owner-only permissions."""
import errno
import os
import stat

from harness import Daemon, STATS, check, log, mkfs, run, run_tests, tmpdir


def test_reads_writes_discards():
    w = tmpdir()
    backing = os.path.join(w, "v.img")
    mkfs(backing, "--logical-size", "2G", "--physical-size", "512M", "--name", "disk")
    d = Daemon([backing], os.path.join(w, "mnt")).start()
    path = d.volume("disk")
    st = os.stat(path)
    check(st.st_size == 2 << 30, f"size {st.st_size}")
    check(st.st_blocks == 0, f"fresh volume st_blocks {st.st_blocks}")
    fd = os.open(path, os.O_RDWR)
    try:
        # Overlapping unaligned writes against a byte model of the first 64 KiB and of 1 GiB - 64 KiB.
        for base in (0, (1 << 30) - 65536):
            model = bytearray(65536)
            for off in (0, 1, 4095, 4096 * 7 + 100, 65536 - 13522, 30000):
                blob = os.urandom(13522 if off != 30000 else 7)
                os.pwrite(fd, blob, base + off)
                model[off:off + len(blob)] = blob
            got = os.pread(fd, 65536, base)
            check(got == bytes(model), f"read back of overlapping unaligned writes at {base} differs")
        os.fsync(fd)
        check(os.pread(fd, 100, (2 << 30) - 50) == b"\0" * 50, "read at the end is short and zero")
        try:
            os.pwrite(fd, b"x" * 10, 2 << 30)
            check(False, "write past the end must fail")
        except OSError as e:
            check(e.errno in (errno.EFBIG, errno.ENOSPC), f"write past end: {e}")
        # Punch a hole and zero a range: data reads back as zeros and blocks come back.
        big = os.urandom(8 << 20)
        os.pwrite(fd, big, 64 << 20)
        os.fsync(fd)
        used_before = d.stats("disk")["data_blocks_used"]
        run(["fallocate", "-p", "-o", str(64 << 20), "-l", str(4 << 20), path])
        run(["fallocate", "-z", "-o", str(68 << 20), "-l", str(2 << 20), path])
        os.fsync(fd)
        got = os.pread(fd, 8 << 20, 64 << 20)
        check(got[: 6 << 20] == b"\0" * (6 << 20), "discarded range must read as zeros")
        check(got[6 << 20:] == big[6 << 20:], "data after the discarded range must be intact")
        used_after = d.stats("disk")["data_blocks_used"]
        log(f"data blocks before/after discarding 6 MiB: {used_before}/{used_after}")
        check(used_before - used_after >= 1536 - 8, "discarding 6 MiB must free about 1536 blocks")
        r = run(["fallocate", "-l", "1M", path], check=False)
        check(r.returncode != 0, "plain fallocate (preallocation) is not supported on a thin volume")
    finally:
        os.close(fd)
    # O_DIRECT, aligned.
    run(["dd", "if=/dev/urandom", "of=" + path, "bs=1M", "count=4", "seek=100", "oflag=direct", "conv=notrunc",
         "status=none"])
    run(["dd", "if=" + path, "of=/dev/null", "bs=1M", "count=4", "skip=100", "iflag=direct", "status=none"])
    st = os.stat(path)
    stats = d.stats("disk")
    check(st.st_blocks == stats["logical_blocks_used"] * 8, f"st_blocks {st.st_blocks} vs {stats}")
    sv = os.statvfs(d.mountpoint)
    check(sv.f_bsize == 4096 and sv.f_blocks == stats["data_capacity_blocks"], f"statfs {sv}")
    check(sv.f_bfree <= sv.f_blocks - stats["data_blocks_used"], f"statfs free {sv.f_bfree}")
    # The namespace is fixed.
    for what, fn in (
        ("create", lambda: open(os.path.join(d.mountpoint, "new"), "w")),
        ("unlink", lambda: os.unlink(path)),
        ("rename", lambda: os.rename(path, path + "2")),
        ("mkdir", lambda: os.mkdir(os.path.join(d.mountpoint, "dir"))),
        ("truncate", lambda: os.truncate(path, 4096)),
    ):
        try:
            fn()
            check(False, f"{what} must be refused")
        except OSError as e:
            log(f"{what}: {e}")
            check(e.errno in (errno.EPERM, errno.EACCES, errno.EROFS), f"{what}: unexpected {e}")
    check(sorted(os.listdir(d.mountpoint)) == ["disk"], "the mount lists exactly the volume")
    d.stop()
    out = run([STATS, "--verbose", backing]).stdout
    check("clean" in out, f"after unmount the volume must be clean: {out}")


def test_sigterm_is_clean_shutdown():
    w = tmpdir()
    backing = os.path.join(w, "v.img")
    mkfs(backing, "--physical-size", "256M")
    d = Daemon([backing], os.path.join(w, "mnt")).start()
    path = d.volume("v")
    data = os.urandom(1 << 20)
    fd = os.open(path, os.O_RDWR)
    os.pwrite(fd, data, 12345 * 4096)
    os.close(fd)
    d.terminate()
    out = run([STATS, "--verbose", backing]).stdout
    check("clean" in out, f"SIGTERM must leave the volume clean: {out}")
    d = Daemon([backing], os.path.join(w, "mnt")).start()
    fd = os.open(path, os.O_RDONLY)
    check(os.pread(fd, len(data), 12345 * 4096) == data, "data written before SIGTERM is intact")
    os.close(fd)
    check(d.stats("v")["completed_recovery_count"] == 0, "a clean shutdown needs no recovery")
    d.stop()


def test_two_volumes_one_mount():
    w = tmpdir()
    a, b = os.path.join(w, "a.img"), os.path.join(w, "b.img")
    mkfs(a, "--physical-size", "256M")
    mkfs(b, "--physical-size", "256M")
    d = Daemon([a, b], os.path.join(w, "mnt")).start()
    check(sorted(os.listdir(d.mountpoint)) == ["a", "b"], "both volumes appear")
    out = run([STATS, d.mountpoint]).stdout
    log(out)
    check(out.count("\n") == 3 and "Space-Saving%" in out, "a header and one line per volume")
    d.stop()


def test_only_the_owner_reads_the_blocks():
    """The backing file, the write log and the volume file hold a filesystem's raw blocks: owner
    only, also with allow_other (which must imply default_permissions)."""
    w = tmpdir()
    os.chmod(w, 0o755)  # let another user reach the mountpoint, so only the file modes stop it
    old_umask = os.umask(0o022)
    try:
        backing = os.path.join(w, "v.img")
        mkfs(backing, "--physical-size", "256M", "--name", "disk")
        wlog = os.path.join(w, "v.wlog")
        d = Daemon([backing], os.path.join(w, "mnt"), options=["allow_other", "write_log=" + wlog]).start()
    finally:
        os.umask(old_umask)
    for what, path in (("backing file", backing), ("write log", wlog)):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        check(mode == 0o600, f"{what} mode {mode:o}, want 600")
    path = d.volume("disk")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    check(mode == 0o600, f"volume file mode {mode:o}, want 600")
    fd = os.open(path, os.O_WRONLY)
    os.pwrite(fd, b"secret!!" * 512, 0)
    os.fsync(fd)
    os.close(fd)
    nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]
    # nobody can see the file (allow_other works and the path is reachable) ...
    r = run(nobody + ["stat", "-c", "%a", path], check=False)
    check(r.returncode == 0 and r.stdout.strip() == "600", f"nobody stats the volume file: {r.stdout}{r.stderr}")
    # ... but can neither read nor write it.
    for args in (["cat", path], ["dd", "if=/dev/zero", "of=" + path, "bs=4096", "count=1", "conv=notrunc"]):
        r = run(nobody + args, check=False)
        check(r.returncode != 0 and "Permission denied" in r.stderr, f"{args[0]} as nobody: rc {r.returncode} {r.stderr}")
    fd = os.open(path, os.O_RDONLY)
    check(os.pread(fd, 8, 0) == b"secret!!", "the owner still reads the volume")
    os.close(fd)
    d.stop()


if __name__ == "__main__":
    run_tests([
        ("volume file: offsets, O_DIRECT, fsync, punch/zero range, st_blocks, statfs, namespace", test_reads_writes_discards),
        ("SIGTERM is a clean shutdown", test_sigterm_is_clean_shutdown),
        ("two volumes in one mount", test_two_volumes_one_mount),
        ("only the owner reads or writes the backing file, write log and volume file", test_only_the_owner_reads_the_blocks),
    ])
