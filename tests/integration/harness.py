"""Integration-test harness: real mkfs.vdofs, a real vdofs FUSE mount, real loop devices.

Every external step runs with a timeout. Everything a test sets up (mounts, loop devices, daemon
processes, temporary files) is registered for cleanup and torn down even when the test fails or
the runner is killed (SIGTERM from meson's timeout): filesystems on loop devices are unmounted,
loop devices detached, the FUSE mount unmounted (lazily if it hangs) and the daemon killed by PID.

Tests are plain functions; run_tests() prints TAP so meson counts each case.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

BUILD = os.environ.get("VDOFS_BUILD") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
MKFS = os.path.join(BUILD, "mkfs", "mkfs.vdofs")
VDOFS = os.path.join(BUILD, "fuse", "vdofs")
STATS = os.path.join(BUILD, "fuse", "vdofs-stats")
STEP_TIMEOUT = 120

_cleanups = []


def cleanup_push(fn, what):
    _cleanups.append((fn, what))


def cleanup_all():
    while _cleanups:
        fn, what = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            log(f"cleanup of {what} failed: {e}")


def log(msg):
    sys.stdout.write("# " + str(msg).replace("\n", "\n# ") + "\n")
    sys.stdout.flush()


class StepFailed(AssertionError):
    pass


def run(cmd, timeout=STEP_TIMEOUT, check=True, input=None, env=None):
    """Runs cmd (list), returns CompletedProcess with text output. Fails on timeout or rc != 0."""
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input, env=env)
    except subprocess.TimeoutExpired as e:
        raise StepFailed(f"timed out after {timeout}s: {' '.join(cmd)}\n{e.stdout or ''}{e.stderr or ''}")
    if check and p.returncode != 0:
        raise StepFailed(f"exit {p.returncode}: {' '.join(cmd)}\n{p.stdout}{p.stderr}")
    return p


def tmpdir():
    d = tempfile.mkdtemp(prefix="vdofs-it-", dir=os.environ.get("VDOFS_TEST_TMP", "/tmp"))
    cleanup_push(lambda: shutil.rmtree(d, ignore_errors=True), f"directory {d}")
    return d


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)


def wait_for(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise StepFailed(f"timed out after {timeout}s waiting for {what}")


def mkfs(backing, *args, timeout=STEP_TIMEOUT):
    return run([MKFS, "--quiet", *args, backing], timeout=timeout)


class Daemon:
    """A vdofs daemon serving backings at mountpoint, run in the foreground (so its PID is known)."""

    def __init__(self, backings, mountpoint, options=(), log_path=None):
        self.backings = list(backings)
        self.mountpoint = mountpoint
        self.options = list(options)
        self.log_path = log_path or os.path.join(os.path.dirname(mountpoint), "vdofs.log")
        self.proc = None

    live = []

    def start(self, timeout=120, ready=True):
        os.makedirs(self.mountpoint, exist_ok=True)
        cmd = [VDOFS, "-f", "-o", "logfile=" + self.log_path]
        for o in self.options:
            cmd += ["-o", o]
        cmd += self.backings + [self.mountpoint]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        cleanup_push(self.kill, f"vdofs pid {self.proc.pid}")
        Daemon.live.append(self)
        cleanup_push(lambda: Daemon.live.remove(self) if self in Daemon.live else None, "daemon list")
        cleanup_push(self._lazy_unmount, f"mount {self.mountpoint}")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if is_mounted(self.mountpoint):
                if ready:
                    self.wait_ready(timeout=max(30.0, end - time.monotonic()))
                return self
            if self.proc.poll() is not None:
                raise StepFailed(f"vdofs exited {self.proc.returncode}: {self.proc.stderr.read()}\n{self.log()}")
            time.sleep(0.05)
        raise StepFailed(f"vdofs did not mount within {timeout}s\n{self.log()}")

    def wait_ready(self, timeout=120):
        """Waits until vdofs-stats answers for the mount and no volume is still recovering in the
        background or still loading/rebuilding its dedupe index, so that a test never races
        background work. A volume that ends read-only or with its index in error is ready too:
        the test then sees that state."""
        end = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise StepFailed(f"vdofs exited {self.proc.returncode}\n{self.log()}")
            p = subprocess.run([STATS, "--json", self.mountpoint], capture_output=True, text=True, timeout=30)
            if p.returncode == 0:
                try:
                    vols = json.loads(p.stdout)
                except ValueError:
                    vols = {}
                busy = [f"{n}: {v.get('operating_mode')}, index {v.get('index_state')}" for n, v in vols.items()
                        if v.get("operating_mode") == "recovering" or v.get("index_state") in ("loading", "rebuilding")]
                if vols and not busy:
                    return self
                last = "; ".join(busy) or "no volumes listed"
            else:
                last = p.stderr.strip()
            time.sleep(0.1)
        raise StepFailed(f"vdofs at {self.mountpoint} not ready within {timeout}s ({last})\n{self.log()}")

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()[-4000:]
        except OSError:
            return ""

    def _lazy_unmount(self):
        if is_mounted(self.mountpoint):
            subprocess.run(["fusermount3", "-uz", self.mountpoint], timeout=30, capture_output=True)

    def stop(self, timeout=120):
        """Clean shutdown (fusermount3 -u), then wait for the daemon to exit 0."""
        run(["fusermount3", "-u", self.mountpoint], timeout=30)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise StepFailed(f"vdofs did not exit within {timeout}s after unmount\n{self.log()}")
        if rc != 0:
            raise StepFailed(f"vdofs exited {rc} after unmount\n{self.log()}")

    def terminate(self, timeout=120):
        """Clean shutdown by SIGTERM."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise StepFailed(f"vdofs did not exit within {timeout}s of SIGTERM\n{self.log()}")
        self._lazy_unmount()
        if rc != 0:
            raise StepFailed(f"vdofs exited {rc} after SIGTERM\n{self.log()}")

    def crash(self):
        """SIGKILL: no shutdown at all. The stale mount is detached."""
        self.proc.kill()
        self.proc.wait(timeout=30)
        self._lazy_unmount()

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def stats(self, name):
        p = run([STATS, "--json", self.mountpoint], timeout=30)
        return json.loads(p.stdout)[name]

    def volume(self, name):
        return os.path.join(self.mountpoint, name)


class Loop:
    """A loop device on a volume file, with 4 KiB sectors and direct I/O, as the README says."""

    def __init__(self, path, direct=True):
        self.path = path
        args = ["losetup", "-f", "--show", "--sector-size", "4096"]
        if direct:
            args.append("--direct-io=on")
        self.dev = run(args + [path], timeout=60).stdout.strip()
        cleanup_push(self.detach, f"loop {self.dev}")

    def detach(self):
        if self.dev:
            for _ in range(50):
                p = subprocess.run(["losetup", "-d", self.dev], capture_output=True, timeout=30)
                if p.returncode == 0 or b"No such device" in p.stderr:
                    break
                time.sleep(0.1)
            self.dev = None


class FsMount:
    def __init__(self, dev, mountpoint, options=None):
        os.makedirs(mountpoint, exist_ok=True)
        self.mountpoint = mountpoint
        run(["mount"] + (["-o", options] if options else []) + [dev, mountpoint], timeout=120)
        cleanup_push(self.unmount, f"filesystem {mountpoint}")

    def unmount(self):
        if is_mounted(self.mountpoint):
            p = subprocess.run(["umount", self.mountpoint], capture_output=True, timeout=120)
            if p.returncode != 0:
                subprocess.run(["umount", "-l", self.mountpoint], capture_output=True, timeout=30)


def check(cond, msg):
    if not cond:
        raise StepFailed(msg)


def sha256_file(path, timeout=STEP_TIMEOUT):
    return run(["sha256sum", path], timeout=timeout).stdout.split()[0]


def run_tests(tests, per_test_timeout=900):
    """Runs [(name, fn)] and prints TAP. Exit status 1 if any failed."""
    def on_term(signum, frame):
        log(f"signal {signum}: cleaning up")
        cleanup_all()
        sys.exit(1)

    signal.signal(signal.SIGTERM, on_term)
    if os.geteuid() != 0:
        print("1..0 # SKIP integration tests need root (FUSE, loop devices)")
        sys.exit(77)
    for tool in ("fusermount3", "losetup"):
        if not shutil.which(tool):
            print(f"Bail out! {tool} is missing")
            sys.exit(1)
    print(f"1..{len(tests)}")
    failed = 0
    for i, (name, fn) in enumerate(tests, 1):
        t0 = time.monotonic()

        def alarm(signum, frame):
            raise StepFailed(f"test exceeded {per_test_timeout}s")

        signal.signal(signal.SIGALRM, alarm)
        signal.alarm(per_test_timeout)
        try:
            fn()
            ok = True
        except Exception:  # noqa: BLE001 - report every failure as a TAP line
            ok = False
            log(traceback.format_exc())
            for d in list(Daemon.live):
                log(f"vdofs log ({d.log_path}):\n{d.log()}")
        finally:
            signal.alarm(0)
            cleanup_all()
        dt = time.monotonic() - t0
        print(f"{'ok' if ok else 'not ok'} {i} - {name} ({dt:.1f}s)")
        sys.stdout.flush()
        failed += 0 if ok else 1
    sys.exit(1 if failed else 0)
