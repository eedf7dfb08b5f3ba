"""Run generated Python code in a sandbox whose verdict the code cannot forge.

Two processes grade one completion:

* the **sandbox** runs the candidate program and nothing else. With
  bubblewrap (``bwrap``, the default wherever it runs) it gets new PID,
  network, IPC, UTS and mount namespaces, a read-only view of ``/usr`` and the
  Python installation only, a private size-limited tmpfs as its only writable
  place, no view of the run directory, the home directory, the response cache
  or any other process, no new privileges (setuid bits are ignored), and
  ``--die-with-parent`` so it never outlives assay. As root it also drops to a
  private random uid (root without capabilities could still write parts of
  ``/proc/sys``); as an ordinary user it gets its own user namespace.
* the **checker**, a trusted interpreter started by assay, runs the item's
  prompt and tests, and calls the candidate's functions through a pipe that
  carries plain data only (see ``sandbox_channel``). The checker alone writes
  the verdict, on a pipe the sandbox never holds, so the candidate cannot
  report a pass, return an object that equals everything, or pass and then
  fail: at worst it returns wrong values or breaks its own channel.

Limits, and what they cover:

* **wall clock** (``timeout``) for the whole exchange; then the sandbox's
  process tree is killed (its PID namespace dies with its first process);
* **memory and processes for the whole sandbox** through a cgroup where assay
  may create one (root on cgroup v1, or a delegated v2 subtree); otherwise
  processes are capped per sandbox by ``RLIMIT_NPROC`` (exact inside bwrap's
  own user namespace or private uid) and memory per process by ``RLIMIT_AS``,
  which a program spreading over several processes can multiply;
* **CPU seconds, address space, file size, open files, no core dumps** per
  process (``setrlimit``); the tmpfs caps the total written.

Where bubblewrap cannot run, assay says so once on stderr and falls back to
the older mechanism (``python -I`` with an audit hook, rlimits and, as root, a
private uid and read-only mount namespace); results then carry
``isolation == "weak"`` and the code scorer labels its scores
``sandbox: weak``. That fallback stops careless code, not an attacker: as an
ordinary user, code using ``ctypes`` can write any file the user can.
"""

from __future__ import annotations

import functools
import inspect
import json
import math
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence, TypeVar

from assay.errors import ConfigError
from assay.jsonable import jsonable
from assay.tasks import sandbox_channel

# User ids for sandboxes are drawn from this range; nothing on a normal system
# uses it, and a random draw keeps concurrent harnesses apart.
_UID_BASE = 0x4000_0000
_UID_SPAN = 0x1000_0000

# Inside bwrap the candidate's only writable place: a private tmpfs.
_BWRAP_WORKDIR = "/tmp"

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class SandboxLimits:
    """Limits for one sandboxed program.

    ``cpu_seconds`` defaults to the timeout rounded up plus one second, so the
    wall clock normally fires first; ``max_processes`` counts the program's
    own process.
    """

    timeout: float = 10.0
    cpu_seconds: int | None = None
    memory_bytes: int = 2 * 1024**3
    max_processes: int = 32
    file_size_bytes: int = 64 * 1024**2
    open_files: int = 256
    output_chars: int = 4000

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise ConfigError(f"sandbox timeout must be positive seconds, got {self.timeout!r}")
        if self.cpu_seconds is not None and self.cpu_seconds < 1:
            raise ConfigError(f"sandbox cpu_seconds must be at least 1, got {self.cpu_seconds!r}")
        if self.memory_bytes < 64 * 1024**2:
            raise ConfigError(f"sandbox memory_bytes must be at least 64 MiB, got {self.memory_bytes!r}")
        if self.max_processes < 1:
            raise ConfigError(f"sandbox max_processes must be at least 1, got {self.max_processes!r}")

    @property
    def cpu_limit(self) -> int:
        return self.cpu_seconds if self.cpu_seconds is not None else math.ceil(self.timeout) + 1


@dataclass
class SandboxResult:
    """Outcome of one sandboxed program.

    ``status`` is ``passed``, ``failed`` (the program raised), ``timeout`` or
    ``crashed`` (killed by a signal, or the sandbox ended before the tests
    did); ``reason`` says why it did not pass. ``protections`` lists the
    guards that were in force and ``isolation`` is ``bwrap`` or ``weak`` (see
    the module docstring).
    """

    status: str
    reason: str | None
    returncode: int | None
    wall_seconds: float
    stdout: str = ""
    stderr: str = ""
    protections: list[str] = field(default_factory=list)
    isolation: str = "bwrap"

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))

    def render(self) -> str:
        text = f"{self.status} in {self.wall_seconds:.2f}s"
        return text if self.reason is None else f"{text}: {self.reason}"


_WEAK_PRELUDE = r'''
import json, os, sys
cfg = json.loads(sys.argv[1])
sys.dont_write_bytecode = True
work = cfg["workdir"]
protections = []

def libc():
    import ctypes
    lib = ctypes.CDLL(None, use_errno=True)
    lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return lib

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME = 16384, 1 << 18, 1 << 21
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000

def mount(lib, source, target, fstype, flags, data=None):
    enc = lambda s: None if s is None else s.encode()
    if lib.mount(enc(source), enc(target), enc(fstype), flags, enc(data)) != 0:
        import ctypes
        raise OSError(ctypes.get_errno(), "mount failed", target)

def unescape(path):
    return path.encode().decode("unicode_escape") if "\\" in path else path

def needed_paths():
    paths = {os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}
    paths.add(os.path.realpath(sys.prefix))
    paths.add(os.path.realpath(sys.base_prefix))
    return sorted(paths)

def closed_ancestor(path):
    """Topmost ancestor that others cannot traverse, or None."""
    parts = path.split("/")
    for i in range(2, len(parts)):
        anc = "/".join(parts[:i])
        if not os.stat(anc).st_mode & 0o001:
            return anc
    return None

def read_only_view(lib):
    # Nothing done below may propagate back to the harness's mounts.
    mount(lib, None, "/", None, MS_REC | MS_PRIVATE)
    # Directories the sandbox user could not traverse (a 0700 home holding the
    # interpreter) are covered by an empty tmpfs; only the Python paths are
    # bound back into it. This also hides whatever else that home contains.
    hidden = {}
    kept = []
    for p in needed_paths():
        if not any(p.startswith(k + "/") for k in kept):
            kept.append(p)
    for p in kept:
        anc = closed_ancestor(p)
        if anc is not None:
            hidden.setdefault(anc, []).append(p)
    for anc, paths in hidden.items():
        fds = [(p, os.open(p, os.O_PATH | os.O_DIRECTORY)) for p in paths]
        mount(lib, "tmpfs", anc, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for p, fd in fds:
            os.makedirs(p, exist_ok=True)
            mount(lib, "/proc/self/fd/%d" % fd, p, None, MS_BIND | MS_REC)
            os.close(fd)
    mount(lib, work, work, None, MS_BIND)
    flag_of = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
               "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split() for line in f]
    for fields in mounts:
        target = unescape(fields[4])
        if target == work:
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for opt in fields[5].split(","):
            flags |= flag_of.get(opt, 0)
        try:
            mount(lib, None, target, None, flags)
        except OSError:
            if target == "/":
                raise

def count_own_processes():
    me, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                count += os.stat("/proc/" + entry).st_uid == me
            except OSError:
                pass
    return count

uid = cfg["uid"]
if uid is not None:
    lib = libc()
    if lib.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID) == 0:
        protections.append("network-namespace")
        try:
            read_only_view(lib)
            protections.append("read-only-filesystem")
        except OSError as exc:
            protections.append("read-only-filesystem-failed:%s" % exc)
        # The first child is init of the new PID namespace: when it ends, the
        # kernel kills and reaps everything it left behind.
        pid = os.fork()
        if pid:
            while True:
                try:
                    _, status = os.waitpid(pid, 0)
                    break
                except InterruptedError:
                    continue
            code = os.waitstatus_to_exitcode(status)
            os._exit(code if code >= 0 else 128 - code)
        protections.append("pid-namespace")
    elif any(closed_ancestor(p) for p in needed_paths()):
        # Without a mount namespace the new uid could not read the
        # interpreter's files; stay as we are (RLIMIT_NPROC then does not bind).
        uid = None
        protections.append("private-uid-unavailable")
    nproc = cfg["max_processes"]
else:
    # Counted before any namespace change, while uids still read as real.
    nproc = count_own_processes() + cfg["max_processes"]
    try:
        if libc().unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
            protections.append("network-namespace")
    except OSError:
        pass

import resource
# Re-enter the directory: the cwd inherited from the harness still points at
# the mount underneath the writable bind of the sandbox directory.
os.chdir(work)
main_pid = os.getpid()
if uid is not None:
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    protections.append("private-uid")
    if "pid-namespace" in protections:
        # Die with the wrapper even if the code leaves its process group.
        libc().prctl(1, 9)
elif cfg["uid"] is not None:
    nproc = count_own_processes() + cfg["max_processes"]

limits = [
    (resource.RLIMIT_CPU, cfg["cpu_seconds"], cfg["cpu_seconds"] + 1),
    (resource.RLIMIT_AS, cfg["memory_bytes"], cfg["memory_bytes"]),
    (resource.RLIMIT_FSIZE, cfg["file_size_bytes"], cfg["file_size_bytes"]),
    (resource.RLIMIT_NOFILE, cfg["open_files"], cfg["open_files"]),
    (resource.RLIMIT_CORE, 0, 0),
    (resource.RLIMIT_NPROC, nproc, nproc),
]
for which, soft, hard in limits:
    resource.setrlimit(which, (soft, hard))
protections.append("rlimits")

work_prefix = os.path.realpath(work) + os.sep
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
block_sockets = "network-namespace" not in protections
PATH_EVENTS = {"os.remove": (0,), "os.rmdir": (0,), "os.mkdir": (0,), "os.rename": (0, 1),
               "os.symlink": (1,), "os.link": (1,), "os.chmod": (0,), "os.chown": (0,),
               "os.truncate": (0,), "os.utime": (0,)}
SPAWN_EVENTS = {"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "pty.spawn"}

def inside(path):
    if isinstance(path, int):
        return True
    real = os.path.realpath(os.fsdecode(path))
    return (real + os.sep).startswith(work_prefix) or real == "/dev/null"

def audit(event, args):
    if event == "open":
        path, _, flags = args
        if flags & WRITE_FLAGS and path is not None and not inside(path):
            raise PermissionError("sandbox: writing outside the sandbox directory is refused: %r" % (path,))
    elif event in PATH_EVENTS:
        for i in PATH_EVENTS[event]:
            if not inside(args[i]):
                raise PermissionError("sandbox: %s outside the sandbox directory is refused: %r" % (event, args[i]))
    elif event in SPAWN_EVENTS:
        raise PermissionError("sandbox: starting other programs is refused (%s)" % event)
    elif block_sockets and event == "socket.__new__":
        raise PermissionError("sandbox: network access is refused (socket creation)")

sys.addaudithook(audit)
protections.append("audit-hook")
if block_sockets:
    protections.append("socket-refused")
'''

# Started inside the sandbox after the channel module's source: take the
# private uid (root only), apply the limits, then load and serve the candidate.
_SERVER_MAIN = r"""
import json, os, resource, sys
cfg = json.loads(sys.argv[1])
sys.argv = ["program.py"]
sys.dont_write_bytecode = True
if cfg.get("uid") is not None and os.getuid() == 0:
    uid = cfg["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
os.chdir(cfg["workdir"])
for name, soft, hard in cfg["rlimits"]:
    resource.setrlimit(getattr(resource, name), (soft, hard))
serve(cfg["request_fd"], cfg["reply_fd"])
try:
    sys.stdout.flush(); sys.stderr.flush()
except BaseException:
    pass
os._exit(0)
"""

_CHECKER_MAIN = "\n_checker_main()\n"


@functools.lru_cache(maxsize=1)
def _channel_source() -> str:
    return inspect.getsource(sandbox_channel)


def _privileged() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


# ------------------------------------------------------------------ bubblewrap


@functools.lru_cache(maxsize=8)
def _python_paths(python: str) -> tuple[str, ...]:
    """Directories the interpreter needs (its prefixes and site-packages), outside ``/usr``."""
    probe = (
        "import json, site, sys, sysconfig; print(json.dumps([sys.prefix, sys.base_prefix, sys.exec_prefix, "
        "sys.base_exec_prefix, *site.getsitepackages(), *sysconfig.get_paths().values()]))"
    )
    try:
        out = subprocess.run(
            [python, "-I", "-c", probe],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": "/usr/bin:/bin"},
            check=True,
        ).stdout
        found = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError):
        found = []
    found += [os.path.dirname(os.path.abspath(python)), os.path.dirname(os.path.realpath(python))]
    paths = set()
    for p in found:
        for candidate in (os.path.abspath(p), os.path.realpath(p)):
            if os.path.isdir(candidate) and not (candidate + "/").startswith("/usr/"):
                paths.add(candidate)
    kept: list[str] = []
    for p in sorted(paths):  # a parent sorts before its children
        if not any((p + "/").startswith(k + "/") for k in kept):
            kept.append(p)
    return tuple(kept)


def _system_binds() -> list[str]:
    """``/usr`` read-only, and the merged-/usr links (or directories) beside it."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = "/" + name
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    return args


def _bwrap_argv(bwrap: str, python: str, limits: SandboxLimits, privileged: bool) -> list[str]:
    if privileged:
        # No user namespace as root: bwrap's would map the sandbox to root,
        # which can write parts of /proc/sys even without capabilities. The
        # server keeps only setuid/setgid to drop to a private uid at once.
        namespaces = [
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--cap-drop",
            "ALL",
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
        ]
    else:
        namespaces = ["--unshare-all", "--unshare-user", "--cap-drop", "ALL"]
    argv = [bwrap, *namespaces, "--die-with-parent", "--new-session", *_system_binds()]
    made: set[str] = set()
    for path in _python_paths(python):
        # Parents are made traversable: bwrap would copy a 0700 home's mode,
        # shutting the private uid out of the interpreter it needs.
        parts = path.split("/")
        for i in range(2, len(parts)):
            parent = "/".join(parts[:i])
            if parent not in made:
                made.add(parent)
                argv += ["--perms", "0755", "--dir", parent]
        argv += ["--ro-bind", path, path]
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(limits.file_size_bytes),
        "--tmpfs",
        _BWRAP_WORKDIR,
        "--chdir",
        _BWRAP_WORKDIR,
    ]
    return argv


@dataclass(frozen=True)
class Isolation:
    """How code will be sandboxed here: ``bwrap`` or ``weak`` (and why weak)."""

    mode: str
    reason: str | None = None


_WARNED: set[str] = set()


@functools.lru_cache(maxsize=8)
def isolation(python: str | None = None) -> Isolation:
    """Whether bubblewrap runs here, checked once per interpreter by starting a trivial sandbox.

    When it does not, the reason is printed once on stderr: every code score
    from then on is labelled ``sandbox: weak``.
    """
    python = python or sys.executable
    bwrap = shutil.which("bwrap")
    if os.environ.get("ASSAY_SANDBOX") == "weak":
        result = Isolation("weak", "ASSAY_SANDBOX=weak is set")
    elif bwrap is None:
        result = Isolation("weak", "bubblewrap (bwrap) is not installed; install the 'bubblewrap' package")
    else:
        argv = _bwrap_argv(bwrap, python, SandboxLimits(), _privileged())
        try:
            probe = subprocess.run(
                [*argv, python, "-I", "-c", "print('ok')"],
                capture_output=True,
                text=True,
                timeout=30,
                env=_child_env(_BWRAP_WORKDIR),
                stdin=subprocess.DEVNULL,
            )
            ok = probe.returncode == 0 and probe.stdout.strip() == "ok"
            why = (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[-1]
        except (OSError, subprocess.SubprocessError) as exc:
            ok, why = False, str(exc)
        result = Isolation("bwrap") if ok else Isolation("weak", f"bubblewrap cannot run here: {why[:300]}")
    if result.mode == "weak" and result.reason not in _WARNED:
        _WARNED.add(result.reason or "")
        print(
            f"assay: {result.reason}; generated code runs with weak isolation and every code score is "
            "labelled 'sandbox: weak'",
            file=sys.stderr,
        )
    return result


# ---------------------------------------------------------------------- cgroups


class _Cgroup:
    """A cgroup limiting one sandbox's memory and process count, all processes together."""

    def __init__(self, dirs: list[str], procs_files: list[str], memory_dir: str | None, version: int) -> None:
        self.dirs, self.procs_files, self.memory_dir, self.version = dirs, procs_files, memory_dir, version

    def oom_killed(self) -> bool:
        if self.memory_dir is None:
            return False
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            with open(os.path.join(self.memory_dir, name)) as f:
                fields = dict(line.split()[:2] for line in f if len(line.split()) >= 2)
            return int(fields.get("oom_kill", "0")) > 0
        except (OSError, ValueError):
            return False

    def pids(self) -> list[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            try:
                with open(procs) as f:
                    found.update(int(line) for line in f if line.strip())
            except OSError:
                pass
        return sorted(found)

    def destroy(self) -> None:
        for _ in range(100):
            pids = self.pids()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            if not pids:
                break
            time.sleep(0.002)
        for d in self.dirs:
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def _own_cgroup(controller: str) -> str | None:
    """This process's cgroup path for a v1 controller (``""`` key for v2)."""
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                _, controllers, path = line.rstrip("\n").split(":", 2)
                if controller in controllers.split(","):
                    return path
    except OSError:
        pass
    return None


def _remove_stale_cgroups(parent: str) -> None:
    """Remove empty sandbox cgroups left by assay processes that were killed (their pid is gone)."""
    try:
        names = os.listdir(parent)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if name.startswith("assay-sandbox-") and len(parts) == 4 and parts[2].isdigit():
            if not os.path.exists(f"/proc/{parts[2]}"):
                try:
                    os.rmdir(os.path.join(parent, name))
                except OSError:
                    pass


_SWEPT: set[str] = set()


def _make_cgroup(limits: SandboxLimits) -> _Cgroup | None:
    """A fresh cgroup with the sandbox's memory and process limits, or None where assay may not make one."""
    name = f"assay-sandbox-{os.getpid()}-{secrets.token_hex(4)}"
    # The sandbox tree also holds bwrap's two processes.
    pids_max = limits.max_processes + 2
    v1 = {c: _own_cgroup(c) for c in ("memory", "pids")}
    made: list[str] = []
    try:
        if all(v1.values()) and all(os.path.isdir(f"/sys/fs/cgroup/{c}") for c in v1):
            memory = os.path.join("/sys/fs/cgroup/memory", v1["memory"].lstrip("/"), name)
            pids = os.path.join("/sys/fs/cgroup/pids", v1["pids"].lstrip("/"), name)
            for d in (memory, pids):
                if os.path.dirname(d) not in _SWEPT:
                    _SWEPT.add(os.path.dirname(d))
                    _remove_stale_cgroups(os.path.dirname(d))
                os.mkdir(d)
                made.append(d)
            _write(os.path.join(memory, "memory.limit_in_bytes"), limits.memory_bytes)
            if os.path.exists(os.path.join(memory, "memory.memsw.limit_in_bytes")):
                _write(os.path.join(memory, "memory.memsw.limit_in_bytes"), limits.memory_bytes)
            _write(os.path.join(pids, "pids.max"), pids_max)
            return _Cgroup(made, [os.path.join(d, "cgroup.procs") for d in made], memory, 1)
        own = _own_cgroup("")
        base = os.path.join("/sys/fs/cgroup", (own or "").lstrip("/"))
        if own is not None and os.path.exists(os.path.join(base, "cgroup.controllers")):
            with open(os.path.join(base, "cgroup.subtree_control")) as f:
                enabled = f.read().split()
            if not {"memory", "pids"} <= set(enabled):
                return None
            d = os.path.join(base, name)
            os.mkdir(d)
            made.append(d)
            _write(os.path.join(d, "memory.max"), limits.memory_bytes)
            if os.path.exists(os.path.join(d, "memory.swap.max")):
                _write(os.path.join(d, "memory.swap.max"), 0)
            _write(os.path.join(d, "pids.max"), pids_max)
            return _Cgroup(made, [os.path.join(d, "cgroup.procs")], d, 2)
    except (OSError, TypeError):
        for d in made:
            try:
                os.rmdir(d)
            except OSError:
                pass
    return None


def _write(path: str, value: int) -> None:
    with open(path, "w") as f:
        f.write(str(value))


# Moves itself into the cgroup(s) named before ``--``, then becomes the sandbox
# (so every process of the sandbox starts inside them).
_ENTER_CGROUP = 'for f do [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; shift; done; shift; exec "$@"'


# ------------------------------------------------------------------ processes


def _child_env(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _rlimits(limits: SandboxLimits, nproc: int | None) -> list[tuple[str, int, int]]:
    rl = [
        ("RLIMIT_CPU", limits.cpu_limit, limits.cpu_limit + 1),
        ("RLIMIT_AS", limits.memory_bytes, limits.memory_bytes),
        ("RLIMIT_FSIZE", limits.file_size_bytes, limits.file_size_bytes),
        ("RLIMIT_NOFILE", limits.open_files, limits.open_files),
        ("RLIMIT_CORE", 0, 0),
    ]
    if nproc is not None:
        rl.append(("RLIMIT_NPROC", nproc, nproc))
    return rl


def _kill_uid(uid: int) -> None:
    """SIGKILL every process whose real uid is ``uid`` until none is left."""
    for _ in range(50):
        found = False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    status = f.read()
            except OSError:
                continue
            uid_line = next((ln for ln in status.splitlines() if ln.startswith("Uid:")), "")
            state_line = next((ln for ln in status.splitlines() if ln.startswith("State:")), "")
            if uid_line.split()[1:2] == [str(uid)] and state_line.split()[1:2] != ["Z"]:
                found = True
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
        if not found:
            return
        time.sleep(0.01)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _tail(path: str, chars: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4 * chars))
            return f.read().decode("utf-8", "replace")[-chars:]
    except OSError:
        return ""


def _read_verdict(fd: int, buffer: bytearray) -> tuple[dict[str, Any] | None, bool]:
    """The checker's verdict once a whole line has arrived, and whether the pipe is closed."""
    os.set_blocking(fd, False)
    closed = False
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                closed = True
                break
            buffer.extend(chunk)
    except BlockingIOError:
        pass
    if b"\n" not in buffer:
        return None, closed
    for line in bytes(buffer).decode("utf-8", "replace").splitlines():
        try:
            payload = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(payload, dict) and "status" in payload:
            return payload, closed
    return None, closed


def _failure_reason(payload: dict[str, Any], limits: SandboxLimits) -> str:
    kind, message = payload.get("type", "Exception"), payload.get("message", "")
    if kind == "MemoryError":
        return f"memory limit reached ({limits.memory_bytes // 1024**2} MiB address space): MemoryError"
    if kind == "BlockingIOError" and payload.get("errno") == 11:
        return f"process limit reached ({limits.max_processes} processes): {kind}: {message}"
    return f"{kind}: {message}" if message else kind


def _signal_reason(returncode: int, limits: SandboxLimits) -> str:
    sig = -returncode if returncode < 0 else returncode - 128
    if sig == signal.SIGXCPU:
        return f"CPU time limit of {limits.cpu_limit}s exceeded"
    if sig == signal.SIGXFSZ:
        return f"file size limit of {limits.file_size_bytes // 1024**2} MiB exceeded"
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    return f"killed by {name}"


# ------------------------------------------------------------------- running


def run_in_sandbox(program: str, *, limits: SandboxLimits | None = None, python: str | None = None) -> SandboxResult:
    """Run one Python program in the sandbox; it passes when it runs to the end without raising.

    This says whether a program ran, not whether it is right: the program
    itself decides whether it raises. Grade code with ``check_in_sandbox``,
    where the tests run outside the sandbox.
    """
    return check_in_sandbox(program, test="", entry_point=None, limits=limits, python=python)


def check_in_sandbox(
    program: str,
    *,
    test: str,
    entry_point: str | None,
    prompt: str = "",
    limits: SandboxLimits | None = None,
    python: str | None = None,
) -> SandboxResult:
    """Run ``program`` in the sandbox and ``test`` in a trusted checker calling into it; the checker's verdict.

    ``prompt`` runs in the checker before the tests (the helper functions and
    imports HumanEval's tests use). With ``entry_point`` set, the tests see
    that name, and any other name they read that nothing trusted defines, as
    the candidate's sandboxed function; a ``check`` function the tests define
    is then called with it.
    """
    limits = limits or SandboxLimits()
    python = python or sys.executable
    mode = isolation(python)
    root = tempfile.mkdtemp(prefix="assay-sandbox-")
    try:
        spec = {"program": program, "prompt": prompt, "test": test, "entry_point": entry_point}
        return _run(root, spec, limits, python, mode)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _start_server(
    root: str, limits: SandboxLimits, python: str, mode: Isolation, request_r: int, reply_w: int, out: Any, err: Any
) -> tuple[subprocess.Popen, list[str], _Cgroup | None, int | None]:
    """Start the sandboxed server; the process, the protections in force, its cgroup and private uid."""
    privileged = _privileged()
    uid = _UID_BASE + secrets.randbelow(_UID_SPAN) if privileged else None
    # "harness" only names the assay process the sandbox belongs to (visible in its command line).
    config: dict[str, Any] = {"request_fd": request_r, "reply_fd": reply_w, "uid": uid, "harness": os.getpid()}
    cgroup = None
    if mode.mode == "bwrap":
        cgroup = _make_cgroup(limits)
        # Without a cgroup, RLIMIT_NPROC still counts only this sandbox: its
        # processes have their own uid (root) or user namespace. It counts
        # bwrap's init process too.
        config.update(workdir=_BWRAP_WORKDIR, rlimits=_rlimits(limits, limits.max_processes + 1))
        argv = [
            *_bwrap_argv(shutil.which("bwrap") or "bwrap", python, limits, privileged),
            python,
            "-I",
            "-c",
            _channel_source() + _SERVER_MAIN,
            json.dumps(config),
        ]
        if cgroup is not None:
            argv = ["/bin/sh", "-c", _ENTER_CGROUP, "sh", *cgroup.procs_files, "--", *argv]
        protections = [
            "bwrap",
            "pid-namespace",
            "network-namespace",
            "ipc-namespace",
            "mount-namespace",
            "read-only-system",
            "private-tmpfs",
            "no-new-privileges",
            "private-uid" if privileged else "user-namespace",
        ]
        protections += ["cgroup-memory", "cgroup-pids"] if cgroup is not None else ["rlimit-nproc"]
        protections += ["rlimits", "checker-verdict"]
        env, cwd = _child_env(_BWRAP_WORKDIR), root
    else:
        work = os.path.join(root, "work")
        os.mkdir(work, 0o700)
        os.chmod(root, 0o711)
        if uid is not None:
            os.chown(work, uid, uid)
        config.update(
            workdir=work,
            cpu_seconds=limits.cpu_limit,
            memory_bytes=limits.memory_bytes,
            file_size_bytes=limits.file_size_bytes,
            open_files=limits.open_files,
            max_processes=limits.max_processes,
            rlimits=[],
        )
        argv = [python, "-I", "-c", _channel_source() + _WEAK_PRELUDE + _SERVER_MAIN, json.dumps(config)]
        protections = ["weak", "rlimits", "audit-hook", "checker-verdict"]
        if privileged:
            protections += ["private-uid", "pid-namespace", "network-namespace", "read-only-filesystem"]
        env, cwd = _child_env(work), work
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=out,
        stderr=err,
        cwd=cwd,
        env=env,
        pass_fds=(request_r, reply_w),
        start_new_session=True,
    )
    return proc, protections, cgroup, uid


def _run(root: str, spec: dict[str, Any], limits: SandboxLimits, python: str, mode: Isolation) -> SandboxResult:
    os.chmod(root, 0o700)
    spec_path = os.path.join(root, "spec.json")
    # Readable by the checker only: the tests, read by the candidate, would give the answers away.
    with open(os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
        json.dump(spec, f)
    out_path, err_path = os.path.join(root, "stdout"), os.path.join(root, "stderr")
    request_r, request_w = os.pipe()
    reply_r, reply_w = os.pipe()
    verdict_r, verdict_w = os.pipe()
    child_ends = [request_r, reply_w, request_w, reply_r, verdict_w]
    verdict_buffer = bytearray()
    server = checker = cgroup = None
    uid = None
    timed_out = False
    start = time.perf_counter()
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            server, protections, cgroup, uid = _start_server(root, limits, python, mode, request_r, reply_w, out, err)
        for fd in (request_r, reply_w):
            os.close(fd)
            child_ends.remove(fd)
        checker_config = {
            "parent": os.getpid(),
            "spec": spec_path,
            "timeout": limits.timeout,
            "request_fd": request_w,
            "reply_fd": reply_r,
            "verdict_fd": verdict_w,
        }
        with open(os.path.join(root, "checker.log"), "wb") as log:
            checker = subprocess.Popen(
                [sys.executable, "-I", "-c", _channel_source() + _CHECKER_MAIN, json.dumps(checker_config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=root,
                env=_child_env(root),
                pass_fds=(request_w, reply_r, verdict_w),
                start_new_session=True,
            )
        for fd in (request_w, reply_r, verdict_w):
            os.close(fd)
            child_ends.remove(fd)
        # The checker stops itself at the deadline; the grace covers its start-up.
        # Waiting on its verdict pipe (not polling the process) returns at once.
        verdict = None
        deadline = time.monotonic() + limits.timeout + 5
        while verdict is None and not timed_out:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([verdict_r], [], [], left)[0]:
                timed_out = True
                break
            verdict, closed = _read_verdict(verdict_r, verdict_buffer)
            if closed and verdict is None:
                break
        wall = time.perf_counter() - start
        if verdict is not None and verdict["status"] == "broken":
            # The sandbox ended early: let it finish exiting so its status says why.
            try:
                server.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
        ended_alone = server.poll()
        oom = cgroup is not None and cgroup.oom_killed()
    finally:
        for fd in child_ends:
            os.close(fd)
        os.close(verdict_r)
        if checker is not None:
            # Its verdict is in (or it is out of time): nothing it does now counts.
            _kill_group(checker.pid)
            checker.wait()
        if server is not None:
            if uid is not None and mode.mode == "weak":
                _kill_uid(uid)
            _kill_group(server.pid)
            if cgroup is not None:
                cgroup.destroy()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        elif cgroup is not None:
            cgroup.destroy()
    stdout = _tail(out_path, limits.output_chars)
    stderr = _tail(err_path, limits.output_chars)
    status, reason = _outcome(verdict, timed_out, ended_alone, oom, stderr, limits)
    return SandboxResult(
        status=status,
        reason=reason,
        returncode=ended_alone,
        wall_seconds=wall,
        stdout=stdout,
        stderr=stderr,
        protections=protections,
        isolation=mode.mode,
    )


def _outcome(
    verdict: dict[str, Any] | None,
    timed_out: bool,
    returncode: int | None,
    oom: bool,
    stderr: str,
    limits: SandboxLimits,
) -> tuple[str, str | None]:
    """The status and reason from the checker's verdict and how the sandbox ended."""
    timeout_reason = f"timeout: still running after {limits.timeout:g}s wall clock; killed"
    if verdict is None or timed_out:
        if timed_out:
            return "timeout", timeout_reason
        return "crashed", "the checker ended without a verdict"
    status = verdict["status"]
    if status == "passed":
        return "passed", None
    if status == "failed":
        return "failed", _failure_reason(verdict, limits)
    if status == "timeout":
        return "timeout", timeout_reason
    if status == "error":
        return "crashed", str(verdict.get("message", "the checker failed"))
    # The sandbox closed its end of the channel before the tests finished.
    if oom:
        return "crashed", f"memory limit reached ({limits.memory_bytes // 1024**2} MiB for the whole sandbox)"
    if returncode is not None and (returncode < 0 or returncode > 128):
        return "crashed", _signal_reason(returncode, limits)
    if not returncode:
        # Closed cleanly or still running: the candidate ended early (os._exit)
        # or wrote into its own channel.
        message = verdict.get("message")
        return "crashed", f"the sandbox ended or broke the channel before the tests finished: {message}"
    reason = f"exited with code {returncode} before the tests finished"
    last = stderr.strip().splitlines()[-1:] if stderr.strip() else []
    if last:
        reason += f": {last[0][:300]}"
    return "crashed", reason


def run_parallel(function: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    if int(workers) != workers or workers < 1:
        raise ConfigError(f"sandbox workers must be a whole number >= 1, got {workers!r}")
    if not items:
        return []
    with ThreadPoolExecutor(max_workers=min(int(workers), len(items))) as pool:
        return list(pool.map(function, items))


def run_many_in_sandbox(
    programs: Sequence[str],
    *,
    workers: int = 2,
    limits: SandboxLimits | None = None,
    python: str | None = None,
) -> list[SandboxResult]:
    """Run programs in parallel sandboxes, at most ``workers`` at a time; results in input order."""
    return run_parallel(lambda p: run_in_sandbox(p, limits=limits, python=python), programs, workers)
