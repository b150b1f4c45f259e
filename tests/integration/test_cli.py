#!/usr/bin/env python3
"""Bad input to mkfs.vdofs, vdofs and vdofs-stats: each ends with a one-line error naming the file
and the problem and a non-zero exit; never a crash (signal) and never a hang."""
import os

from harness import MKFS, STATS, VDOFS, check, log, mkfs, run, run_tests, tmpdir


def expect_error(cmd, *needles, timeout=60):
    p = run(cmd, timeout=timeout, check=False)
    err = p.stderr.strip()
    log(f"{' '.join(os.path.basename(c) if i == 0 else c for i, c in enumerate(cmd))} -> {p.returncode}: {err}")
    check(p.returncode > 0, f"expected a non-zero exit (not a signal), got {p.returncode}")
    lines = [line for line in err.splitlines() if line.strip()]
    check(len(lines) == 1, f"expected a one-line error, got {len(lines)} lines: {err!r}")
    for n in needles:
        check(n in err, f"error should mention {n!r}: {err!r}")
    return err


def test_mkfs_bad_input():
    w = tmpdir()
    expect_error([MKFS, "--physical-size", "1G", w], w, "directory")
    missing = os.path.join(w, "nope", "vol.img")
    expect_error([MKFS, "--physical-size", "1G", missing], missing)
    absent = os.path.join(w, "absent.img")
    expect_error([MKFS, absent], absent, "--physical-size")
    small = os.path.join(w, "small.img")
    err = expect_error([MKFS, "--physical-size", "1M", small], small, "too small", "at least")
    check(not os.path.exists(small), "a failed mkfs must not leave the file it created")
    expect_error([MKFS, "--physical-size", "1000000", os.path.join(w, "odd.img")], "multiple of 4096")
    expect_error([MKFS, "--physical-size", "1G", "--logical-size", "12345", os.path.join(w, "odd.img")],
                 "multiple of 4096")
    expect_error([MKFS, "--physical-size", "banana", os.path.join(w, "x.img")], "banana")
    expect_error([MKFS, "--physical-size", "1G", "--index-memory", "1M", os.path.join(w, "x.img")], "16M")
    expect_error([MKFS, "--physical-size", "1G", "--slab-size", "3M", os.path.join(w, "x.img")], "power of two")
    expect_error([MKFS, "--bogus", os.path.join(w, "x.img")], "--bogus")
    # An existing vdofs volume and an ext4 filesystem are refused without --force.
    vol = os.path.join(w, "vol.img")
    mkfs(vol, "--physical-size", "256M")
    expect_error([MKFS, vol], vol, "vdofs volume", "--force")
    run([MKFS, "--quiet", "--force", vol])
    ext = os.path.join(w, "ext.img")
    run(["truncate", "-s", "256M", ext])
    run(["mkfs.ext4", "-q", "-F", ext])
    expect_error([MKFS, ext], ext, "ext", "--force")
    check(run([MKFS, "--help"]).returncode == 0, "--help")
    check("mkfs.vdofs" in run([MKFS, "--version"]).stdout, "--version")


def test_vdofs_bad_input():
    w = tmpdir()
    mnt = os.path.join(w, "mnt")
    os.makedirs(mnt)
    junk = os.path.join(w, "junk.img")
    with open(junk, "wb") as f:
        f.write(os.urandom(1 << 20))
    expect_error([VDOFS, "-f", junk, mnt], junk, "not a vdofs volume")
    expect_error([VDOFS, "-f", os.path.join(w, "missing.img"), mnt], "missing.img")
    vol = os.path.join(w, "vol.img")
    mkfs(vol, "--physical-size", "256M")
    # Corrupt both super-block copies (blocks 1 and 2).
    bad = os.path.join(w, "bad.img")
    run(["cp", "--sparse=always", vol, bad])
    with open(bad, "r+b") as f:
        for blk in (1, 2):
            f.seek(blk * 4096 + 40)
            f.write(b"\xff" * 16)
    expect_error([VDOFS, "-f", bad, mnt], bad, "super block")
    expect_error([VDOFS, "-f", vol, os.path.join(w, "no-such-dir")], "no-such-dir")
    expect_error([VDOFS, "-f", vol], "MOUNTPOINT")
    expect_error([VDOFS, "-f", "-o", "logical_zones=0", vol, mnt], "logical_zones")
    expect_error([VDOFS, "-f", "-o", "hash_zones=abc", vol, mnt], "hash_zones")
    check(run([VDOFS, "--help"]).returncode == 0, "--help")
    check(not any(line.split()[1] == mnt for line in open("/proc/mounts")), "nothing may stay mounted")


def test_stats_bad_input():
    w = tmpdir()
    expect_error([STATS, os.path.join(w, "missing")], "missing")
    expect_error([STATS, w], w, "not a vdofs mountpoint")
    expect_error([STATS], "PATH")


if __name__ == "__main__":
    run_tests([
        ("mkfs.vdofs: directory, missing path, too small, unaligned, bad options, signatures", test_mkfs_bad_input),
        ("vdofs: not a volume, corrupt super block, bad mountpoint and options", test_vdofs_bad_input),
        ("vdofs-stats: missing path, not a mountpoint", test_stats_bad_input),
    ])
