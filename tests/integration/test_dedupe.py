#!/usr/bin/env python3
"""Dedupe through a real mount (index issue): data written before a clean remount, or fsynced
before a SIGKILL, still dedupes; a 16 MiB index still finds data written 6 GiB earlier; and a
0-100% fio dedupe_percentage sweep ends with Saving% within one point of the ideal."""
import hashlib
import json
import os

from harness import Daemon, check, log, mkfs, run, run_tests, tmpdir

MIB = 1 << 20


def fill(path, size, seed):
    """Deterministic data in which no two 4 KiB blocks are equal: each block starts with its
    own index, the rest comes from a seeded stream."""
    base = bytearray()
    h = hashlib.sha512(str(seed).encode()).digest()
    while len(base) < MIB:
        h = hashlib.sha512(h).digest()
        base += h
    with open(path, "wb") as f:
        for m in range(size // MIB):
            chunk = bytearray(base)
            for k in range(MIB // 4096):
                chunk[k * 4096:k * 4096 + 8] = (m * 256 + k + seed * (1 << 40)).to_bytes(8, "little")
            f.write(chunk)


def dd(src, dst, seek_mib=0):
    run(["dd", f"if={src}", f"of={dst}", "bs=1M", f"seek={seek_mib}", "conv=notrunc,fsync", "oflag=direct",
         "status=none"], timeout=600)


def used(d, name):
    return d.stats(name)["data_blocks_used"]


def rewrite_case(crash):
    w = tmpdir()
    backing = os.path.join(w, "v.img")
    mkfs(backing, "--logical-size", "4G", "--physical-size", "2G")
    data = os.path.join(w, "data.bin")
    fill(data, 256 * MIB, 1)
    d = Daemon([backing], os.path.join(w, "mnt")).start()
    dd(data, d.volume("v"), 0)
    if crash:
        d.crash()
    else:
        d.stop()
    d = Daemon([backing], os.path.join(w, "mnt")).start()
    before = used(d, "v")
    dd(data, d.volume("v"), 1024)
    after = used(d, "v")
    st = d.stats("v")
    added = after - before
    log(f"{'after SIGKILL' if crash else 'after clean remount'}: rewriting 65536 blocks added {added} "
        f"(valid advice {st['dedupe_advice_valid']}, read-verified {st['dedupe_verify_reads']}, index {st['index_state']})")
    check(before >= 65536, f"the first copy is there ({before} blocks)")
    check(added < 65536 * 0.05, f"rewrite added {added} blocks, not under 5% of 65536")
    d.stop()


def test_rewrite_after_clean_remount():
    rewrite_case(crash=False)


def test_rewrite_after_sigkill():
    rewrite_case(crash=True)


def test_small_index_window_reaches_six_gib_back():
    w = tmpdir()
    backing = os.path.join(w, "v.img")
    mkfs(backing, "--logical-size", "16G", "--physical-size", "8G", "--index-memory", "16M")
    data = os.path.join(w, "data.bin")
    fill(data, 256 * MIB, 2)
    d = Daemon([backing], os.path.join(w, "mnt")).start()
    vol = d.volume("v")
    dd(data, vol, 0)
    # 6 GiB of other unique data after it.
    run(["fio", "--name=fill", f"--filename={vol}", "--rw=write", "--bs=1M", "--size=6G", "--offset=1G",
         "--ioengine=psync", "--direct=1", "--refill_buffers=1", "--randseed=7", "--end_fsync=1",
         "--allow_file_create=0", "--output-format=terse"], timeout=1800)
    before = used(d, "v")
    dd(data, vol, 8 * 1024)
    added = used(d, "v") - before
    st = d.stats("v")
    log(f"index: {st['index_entries']} entries in {st['index_memory_bytes']} bytes; rewrite after 6 GiB added {added}")
    check(added <= 65536 * 0.05, f"data 6 GiB back must still dedupe (>= 95%): added {added} of 65536")
    d.stop()


def ideal_saving(path, offset, size):
    seen = set()
    n = 0
    with open(path, "rb") as f:
        f.seek(offset)
        for _ in range(size // 4096):
            b = f.read(4096)
            n += 1
            seen.add(hashlib.sha256(b).digest())
    return (n - len(seen)) * 100.0 / n


def test_fio_dedupe_sweep():
    for pct in (0, 25, 50, 75, 100):
        w = tmpdir()
        backing = os.path.join(w, "v.img")
        mkfs(backing, "--logical-size", "2G", "--physical-size", "1G")
        d = Daemon([backing], os.path.join(w, "mnt")).start()
        vol = d.volume("v")
        run(["fio", "--name=sweep", f"--filename={vol}", "--rw=write", "--bs=4k", "--size=256M", "--ioengine=libaio",
             "--iodepth=16", "--direct=1", "--refill_buffers=1", f"--dedupe_percentage={pct}", "--randseed=11",
             "--end_fsync=1", "--allow_file_create=0", "--output-format=terse"], timeout=900)
        st = d.stats("v")
        ideal = ideal_saving(vol, 0, 256 * MIB)
        log(f"dedupe_percentage={pct}: Saving% {st['saving_percent']} vs ideal {ideal:.2f}")
        check(abs(st["saving_percent"] - ideal) <= 1.0, f"{pct}%: Saving% {st['saving_percent']} vs ideal {ideal:.2f}")
        d.stop()


if __name__ == "__main__":
    run_tests([
        ("rewriting 256 MiB written before a clean remount adds < 5% new blocks", test_rewrite_after_clean_remount),
        ("rewriting 256 MiB fsynced before a SIGKILL adds < 5% new blocks", test_rewrite_after_sigkill),
        ("a 16 MiB index finds data written 6 GiB earlier (>= 95%)", test_small_index_window_reaches_six_gib_back),
        ("fio dedupe_percentage 0..100: Saving% within one point of the ideal", test_fio_dedupe_sweep),
    ])
