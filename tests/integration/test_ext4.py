#!/usr/bin/env python3
"""ext4 and xfs on a deduplicated volume, end to end (foundation issue):
mkfs.vdofs -> vdofs -> losetup --sector-size 4096 -> mkfs -> copy a 64 MiB random file twice plus
64 MiB of zeros -> the second copy and the zeros add almost no data blocks -> unmount everything
-> remount -> fsck clean -> checksums match."""
import os

from harness import (Daemon, FsMount, Loop, check, log, mkfs, run, run_tests, sha256_file,
                     tmpdir)

MIB = 1 << 20


def data_blocks(d):
    run(["sync"], timeout=120)
    return d.stats("vol0")["data_blocks_used"]


def copy_twice_and_zeros(d, fsdir, work):
    src = os.path.join(work, "random.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(64 * MIB))
    want = sha256_file(src)
    before = data_blocks(d)
    run(["cp", src, os.path.join(fsdir, "copy1")])
    after1 = data_blocks(d)
    run(["cp", src, os.path.join(fsdir, "copy2")])
    after2 = data_blocks(d)
    run(["dd", "if=/dev/zero", "of=" + os.path.join(fsdir, "zeros"), "bs=1M", "count=64", "conv=fsync",
         "status=none"])
    after3 = data_blocks(d)
    first, second, zeros = after1 - before, after2 - after1, after3 - after2
    log(f"data blocks: first copy +{first}, second copy +{second}, 64 MiB zeros +{zeros}")
    check(first >= 16384, f"the first 64 MiB copy should need >= 16384 blocks, took {first}")
    check(second < 16384 * 0.05, f"the second copy cost {second} blocks (>= 5% of 16384)")
    check(zeros < 16384 * 0.05, f"64 MiB of zeros cost {zeros} blocks (>= 5% of 16384)")
    st = d.stats("vol0")
    check(st["saving_percent"] is not None and st["saving_percent"] >= 40,
          f"saving_percent {st['saving_percent']} after two copies and zeros")
    check(st["dedupe_advice_valid"] + st["concurrent_data_matches"] >= 16000,
          f"dedupe counters too low: {st}")
    return want


def end_to_end(fstype):
    w = tmpdir()
    backing = os.path.join(w, "vol0.img")
    mnt = os.path.join(w, "mnt")
    fsdir = os.path.join(w, "fs")
    mkfs(backing, "--logical-size", "4G", "--physical-size", "1G")
    d = Daemon([backing], mnt).start()
    loop = Loop(d.volume("vol0"))
    if fstype == "ext4":
        run(["mkfs.ext4", "-q", "-F", loop.dev], timeout=300)
    else:
        run(["mkfs.xfs", "-q", "-f", loop.dev], timeout=300)
    fs = FsMount(loop.dev, fsdir)
    want = copy_twice_and_zeros(d, fsdir, w)
    fs.unmount()
    loop.detach()
    d.stop()

    d = Daemon([backing], mnt).start()
    loop = Loop(d.volume("vol0"))
    if fstype == "ext4":
        run(["fsck.ext4", "-fn", loop.dev], timeout=300)
    else:
        run(["xfs_repair", "-n", loop.dev], timeout=300)
    fs = FsMount(loop.dev, fsdir)
    for name in ("copy1", "copy2"):
        got = sha256_file(os.path.join(fsdir, name))
        check(got == want, f"{name}: checksum {got} != {want} after remount")
    zeros = sha256_file(os.path.join(fsdir, "zeros"))
    check(zeros == "3b6a07d0d404fab4e23b6d34bc6696a6a312dd92821332385e5af7c01c421351",
          f"zeros file checksum {zeros}")
    fs.unmount()
    loop.detach()
    d.stop()


def test_ext4_dedupe_end_to_end():
    end_to_end("ext4")


def test_xfs_dedupe_end_to_end():
    end_to_end("xfs")


if __name__ == "__main__":
    run_tests([
        ("ext4: two copies and zeros dedupe; remount; fsck; checksums", test_ext4_dedupe_end_to_end),
        ("xfs: two copies and zeros dedupe; remount; xfs_repair -n; checksums", test_xfs_dedupe_end_to_end),
    ])
