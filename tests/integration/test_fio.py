#!/usr/bin/env python3
"""fio against the engine at several zone configurations (engine issue): 4 jobs of random 4 KiB
writes with dedupe_percentage=50 and verify=crc32c, directly on the volume file and through a loop
device with ext4; fio must verify every block and vdofs-check must find the volume consistent."""
import os

from harness import STATS, Daemon, FsMount, Loop, check, log, mkfs, run, run_tests, tmpdir

CHECK = os.path.join(os.path.dirname(STATS), "..", "mkfs", "vdofs-check")
CONFIGS = [
    ("single_thread", ["single_thread"]),
    ("L1P1H1", ["logical_zones=1", "physical_zones=1", "hash_zones=1"]),
    ("L3P2H2", ["logical_zones=3", "physical_zones=2", "hash_zones=2", "io_threads=3", "index_zones=2"]),
    ("L2P1H3", ["logical_zones=2", "physical_zones=1", "hash_zones=3", "io_threads=1", "cpu_threads=1"]),
]


def fio(filename, size_per_job, extra=()):
    args = ["fio", "--name=verify", f"--filename={filename}", "--rw=randwrite", "--bs=4k", "--numjobs=4",
            f"--size={size_per_job}", f"--offset_increment={size_per_job}", "--ioengine=libaio", "--iodepth=16",
            "--direct=1", "--dedupe_percentage=50", "--refill_buffers=1", "--verify=crc32c",
            "--verify_fatal=1", "--do_verify=1", "--verify_state_save=0", "--randrepeat=1", "--norandommap=0", "--group_reporting=1",
            "--output-format=terse", *extra]
    p = run(args, timeout=900)
    fields = p.stdout.strip().splitlines()[-1].split(";")
    log(f"fio: {fields[2]} write {fields[48] if len(fields) > 48 else '?'} KiB/s, errors {fields[4]}")
    check(fields[4] == "0", f"fio reported errors: {fields[4]}")


def test_fio_verify_on_volume_file():
    for name, opts in CONFIGS:
        w = tmpdir()
        backing = os.path.join(w, "v.img")
        mkfs(backing, "--logical-size", "4G", "--physical-size", "1G")
        d = Daemon([backing], os.path.join(w, "mnt"), options=opts).start()
        log(f"config {name}")
        fio(d.volume("v"), "64M", ["--allow_file_create=0"])
        st = d.stats("v")
        check(st["operating_mode"] == "normal", f"{name}: mode {st['operating_mode']}")
        d.stop()
        out = run([CHECK, backing]).stdout
        check("consistent" in out, f"{name}: vdofs-check: {out}")


def test_fio_verify_through_ext4():
    for name, opts in CONFIGS[1:3]:
        w = tmpdir()
        backing = os.path.join(w, "v.img")
        mkfs(backing, "--logical-size", "4G", "--physical-size", "1G")
        d = Daemon([backing], os.path.join(w, "mnt"), options=opts).start()
        loop = Loop(d.volume("v"))
        run(["mkfs.ext4", "-q", "-F", loop.dev], timeout=300)
        fsdir = os.path.join(w, "fs")
        fs = FsMount(loop.dev, fsdir)
        log(f"config {name} (ext4)")
        fio(os.path.join(fsdir, "fio.dat"), "48M")
        fs.unmount()
        run(["fsck.ext4", "-fn", loop.dev], timeout=300)
        loop.detach()
        d.stop()
        out = run([CHECK, backing]).stdout
        check("consistent" in out, f"{name}: vdofs-check: {out}")


if __name__ == "__main__":
    run_tests([
        ("fio 4 jobs randwrite dedupe 50% verify=crc32c on the volume file, 4 zone configurations", test_fio_verify_on_volume_file),
        ("fio 4 jobs randwrite dedupe 50% verify=crc32c through loop + ext4, 2 zone configurations", test_fio_verify_through_ext4),
    ])
