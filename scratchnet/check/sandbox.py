"""The sandbox a submission runs in: bubblewrap (``bwrap``, Debian's ``bubblewrap``, the sandbox
under Flatpak), and the resource limits it starts under.

What the submission's process sees and may do (:func:`command` builds the ``bwrap`` call):

- the system (``/usr``, ``/etc``, ...) and the Python installation (the interpreter's prefix, its
  site-packages, scratchnet's own folder), **read-only**; nothing else of the machine: not the
  class's folder, not the grader's files, not ``/home``;
- its job (``/job``: its own copy of its files, the cases' inputs; read-only) and the worker's two
  modules (``/grader``; read-only); the expected results never enter the sandbox;
- a private, size-limited ``/tmp`` and working folder ``/submission`` (memory-backed, gone when it
  ends), where the worker copies the submission's files and runs it;
- no network (a network namespace of its own, with no interface but loopback), its own PID
  namespace (it sees only its own processes; every process it starts dies with it; the grader is
  not there to signal), its own IPC and host name, a new session (no terminal), an empty
  environment;
- where the grader runs as root: another user (``nobody``, uid 65534; the worker drops to it before
  it reads the submission, so nothing of the submission ever runs as root);
- hard limits (:func:`limit_resources`, which nothing in the sandbox can lift): address space, CPU
  seconds, processes, file size, open files, no core dumps. The grader adds a wall clock.

Where ``bwrap`` is missing, folder grading refuses to start and says how to install it
(:data:`MISSING`); ``--no-sandbox`` runs without it (the limits only) and every report says so.
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534
JOB, GRADER, WORK = "/job", "/grader", "/submission"  # the sandbox's own folders
MISSING = (
    "the sandbox tool bubblewrap (bwrap) is not installed, and submissions are strangers' code: "
    "install it (Debian/Ubuntu: sudo apt-get install bubblewrap; Fedora: sudo dnf install bubblewrap; "
    "Arch: sudo pacman -S bubblewrap), or, only for code you trust, run with --no-sandbox"
)
UNSAFE = ("graded WITHOUT a sandbox (--no-sandbox): the submission ran as the grader's user with "
          "limits on time and memory only")  # fmt: skip


class Unavailable(OSError):
    """The sandbox cannot run here (what :func:`works` says)."""


@dataclass(frozen=True)
class Limits:
    """What one submission may use. ``processes`` is on top of the processes its user already has
    (the limit counts per user)."""

    seconds: float = 30.0  # CPU seconds, and the wall clock (plus a margin for starting)
    memory_mb: int = 1024  # address space
    processes: int = 64
    file_mb: int = 64  # the largest file it may write, and the size of /tmp and /submission
    open_files: int = 256
    output_bytes: int = 4000  # the tail of its printing kept for the report
    results_mb: int = 64  # what the grader reads of its results at most


def bwrap() -> str | None:
    """The path of ``bwrap``, or ``None`` where it is not installed."""
    return shutil.which("bwrap")


@functools.cache
def works() -> str | None:
    """``None`` if a sandbox starts here and runs Python with NumPy, else why not (bwrap missing,
    or unable to make namespaces: inside an unprivileged container, say). Asked once a process."""
    tool = bwrap()
    if tool is None:
        return MISSING
    with tempfile.TemporaryDirectory() as tmp:
        job, worker = Path(tmp, "job"), Path(tmp, "grader")
        job.mkdir()
        worker.mkdir()
        argv = command(tool, job, worker, [sys.executable, "-I", "-c", "import numpy"], Limits())
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    if proc.returncode:
        return f"the sandbox (bwrap) does not start here: {proc.stderr.strip()[-300:]}"
    return None


def _python_roots() -> list[Path]:
    """The folders the interpreter and its packages live in (each once, the outermost)."""
    import numpy

    found = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), *site.getsitepackages(),
             sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
             os.path.dirname(os.path.dirname(numpy.__file__)),
             os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]  # fmt: skip
    user = site.getusersitepackages()
    if os.path.isdir(user):
        found.append(user)
    roots: list[Path] = []
    for p in sorted({Path(os.path.realpath(p)) for p in found if os.path.isdir(p)}, key=lambda p: len(p.parts)):
        if not any(p.is_relative_to(r) for r in roots):
            roots.append(p)
    return roots


def _system() -> list[str]:
    """The system's folders, read-only (``/lib`` and the like are symbolic links on merged-/usr
    systems: made links again inside)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"):
        if os.path.islink(name):
            args += ["--symlink", os.readlink(name), name]
        elif os.path.isdir(name):
            args += ["--ro-bind", name, name]
    return args


def _ro_bind(path: Path, made: set[Path]) -> list[str]:
    """Bind ``path`` read-only at the same place, its parents made traversable (bwrap makes them
    0700, which another user could not enter)."""
    args: list[str] = []
    for parent in reversed(path.parents):
        if parent != Path("/") and parent not in made and not str(parent).startswith(("/usr", "/etc")):
            made.add(parent)
            args += ["--perms", "0755", "--dir", str(parent)]
    return [*args, "--ro-bind", str(path), str(path)]


def environment(home: str, tmp: str) -> dict[str, str]:
    """A submission's whole environment (nothing of the grader's): one BLAS thread (the cases are
    small, and a thread pool costs address space under the memory limit)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", "TMPDIR": tmp,
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip


def command(tool: str, job: Path, worker: Path, argv: list[str], limits: Limits) -> list[str]:
    """The ``bwrap`` call that runs ``argv`` with ``job`` at ``/job`` and ``worker`` at
    ``/grader`` (both read-only)."""
    as_root = os.geteuid() == 0
    spaces = ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
    if not as_root:
        spaces.insert(0, "--unshare-user")
    made: set[Path] = set()
    binds = [arg for root in _python_roots() for arg in _ro_bind(root, made)]
    size = str(limits.file_mb * 2**20)
    env = environment(WORK, "/tmp")
    return [
        tool, *spaces, "--die-with-parent", "--new-session", "--clearenv",
        *[a for k, v in env.items() for a in ("--setenv", k, v)],
        # the private folders first: a Python installation under /tmp is then bound on top
        "--perms", "1777", "--size", size, "--tmpfs", "/tmp",
        "--perms", "0777", "--size", size, "--tmpfs", WORK,
        *_system(), *binds, "--proc", "/proc", "--dev", "/dev",
        "--ro-bind", str(job), JOB, "--ro-bind", str(worker), GRADER, "--chdir", WORK,
        # as root the worker needs these two to become nobody (setuid then clears every capability)
        *(["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"] if as_root else []),
        "--", *argv,
    ]  # fmt: skip


def _own_processes() -> int:
    uid = os.getuid()
    try:
        return sum(1 for p in Path("/proc").iterdir() if p.name.isdigit() and _owner(p) == uid)
    except OSError:
        return 0


def _owner(p: Path) -> int | None:
    try:
        return p.stat().st_uid
    except OSError:
        return None


def resource_limiter(limits: Limits, drops_to_nobody: bool) -> Callable[[], None]:
    """The function that sets hard limits in the process about to start (``preexec_fn``): they
    are inherited by everything it starts and lowered for good (only a privileged process could
    raise a hard limit again). The process count is per user: for ``nobody`` it counts the
    sandboxes at once; for the grader's own user it is added to what that user already runs."""
    import resource

    cpu = max(1, int(limits.seconds + 0.999))
    processes = limits.processes * 4 if drops_to_nobody else _own_processes() + limits.processes
    wanted = [(resource.RLIMIT_AS, limits.memory_mb * 2**20, 0), (resource.RLIMIT_CPU, cpu, 1),
              (resource.RLIMIT_NPROC, processes, 0), (resource.RLIMIT_FSIZE, limits.file_mb * 2**20, 0),
              (resource.RLIMIT_NOFILE, limits.open_files, 0), (resource.RLIMIT_CORE, 0, 0)]  # fmt: skip
    settings = []
    for which, value, extra in wanted:  # the CPU's soft limit sends SIGXCPU a second before the hard one kills
        hard = resource.getrlimit(which)[1]
        cap = (lambda v: v) if hard == resource.RLIM_INFINITY else (lambda v, h=hard: min(v, h))
        settings.append((which, (cap(value), cap(value + extra))))

    def limit() -> None:
        for which, pair in settings:
            resource.setrlimit(which, pair)

    return limit
