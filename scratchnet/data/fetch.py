"""Finding dataset files on disk, and downloading them (verified, atomically) when missing.

Search order for every file: an explicit ``data_dir`` (``--data-dir``), then each directory in the
environment variable ``SCRATCHNET_DATA`` (``os.pathsep``-separated), then the user cache
(``$XDG_CACHE_HOME/scratchnet`` or ``~/.cache/scratchnet``). In each directory ``D`` the file is
looked for in ``D/<dataset>/`` and then in ``D`` itself, gzipped or not. Missing files are
downloaded into the cache from the official locations by ``pooch`` (download, MD5 check against
the published checksum, atomic move into place); every error names the file and what to do.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ..runtime import is_terminal
from .formats import DatasetError
from .sources import DatasetSpec, RemoteFile

ENV_VAR = "SCRATCHNET_DATA"


@dataclass(frozen=True)
class Root:
    """A directory to search and why it is searched (for error messages)."""

    path: Path
    origin: str


def cache_dir() -> Path:
    """The user cache directory for datasets."""
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        base = Path(os.environ["LOCALAPPDATA"])
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "scratchnet"


def search_roots(data_dir: str | os.PathLike | None = None) -> list[Root]:
    """The directories searched for dataset files, in order."""
    roots = []
    if data_dir is not None:
        roots.append(Root(Path(data_dir).expanduser(), "--data-dir"))
    for p in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if p.strip():
            roots.append(Root(Path(p).expanduser(), f"${ENV_VAR}"))
    roots.append(Root(cache_dir(), "user cache"))
    return roots


def candidate_dirs(spec: DatasetSpec, root: Root) -> list[Path]:
    return [root.path / spec.name, root.path]


def find_file(spec: DatasetSpec, remote: RemoteFile, roots: list[Root]) -> Path | None:
    """First existing copy of ``remote`` (gzipped name first, then without ``.gz``)."""
    names = [remote.name]
    if remote.name.endswith(".gz") and not remote.name.endswith(".tar.gz"):
        names.append(remote.name[: -len(".gz")])
    for root in roots:
        for d in candidate_dirs(spec, root):
            for name in names:
                if (d / name).is_file():
                    return d / name
    return None


def md5sum(path: Path) -> str:
    """The file's MD5, read in 1 MiB blocks (``hashlib``: importing ``pooch`` only to check a local
    file would also import ``tqdm.auto``, which warns in a notebook without widgets)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, spec: DatasetSpec, remote: RemoteFile) -> None:
    """Check an official (compressed) file against its published size and MD5."""
    if path.name != remote.name:
        return  # an uncompressed copy: structure is validated when it is parsed
    size = path.stat().st_size
    digest = md5sum(path)
    if digest != remote.md5:
        raise DatasetError(
            f"{path}: checksum mismatch: MD5 {digest} ({size:,} bytes), but the published "
            f"{spec.title} file has MD5 {remote.md5} ({remote.size:,} bytes). The file is corrupt "
            "or not the official one: delete it and download it again"
        )


def download(spec: DatasetSpec, remote: RemoteFile, dest_dir: Path, progress: bool = True) -> Path:
    """Download ``remote`` from the first mirror that works into ``dest_dir`` with ``pooch``:
    streamed to a temporary file beside the target, MD5-verified, and only then moved into place
    (a failed or corrupt download leaves nothing behind).

    Raises ``DatasetError`` listing every URL tried and why it failed.
    """
    import pooch

    pooch.get_logger().setLevel("WARNING")  # no "Downloading ..." chatter; errors are ours to report
    failures = []
    for base in spec.mirrors:
        url = base + remote.name
        try:
            path = pooch.retrieve(url, known_hash=f"md5:{remote.md5}", fname=remote.name, path=dest_dir,
                                  progressbar=progress and is_terminal(sys.stderr))  # fmt: skip
            return Path(path)
        except ValueError as e:  # pooch: the hash did not match; the temporary file is deleted
            found = re.search(r"\(([0-9a-f]{32})\)", str(e))
            failures.append(f"{url}: downloaded file has MD5 {found.group(1) if found else '?'}, "
                            f"expected {remote.md5}; not stored")  # fmt: skip
        except OSError as e:  # requests' errors (HTTP status, connection) are OSErrors too
            failures.append(f"{url}: {e}")
    raise DatasetError("; ".join(failures))


def locate(
    spec: DatasetSpec,
    roles: list[str],
    data_dir: str | os.PathLike | None = None,
    download_missing: bool = True,
    progress: bool = True,
) -> dict[str, Path]:
    """Paths of the files ``roles`` of ``spec``, verified; downloads what is missing.

    Raises ``DatasetError`` naming the missing files, every directory searched, why the
    download failed and where to put the files.
    """
    roots = search_roots(data_dir)
    found: dict[str, Path] = {}
    missing: list[str] = []
    for role in roles:
        remote = spec.files[role]
        path = find_file(spec, remote, roots)
        if path is None:
            missing.append(role)
        else:
            verify(path, spec, remote)
            found[role] = path
    if not missing:
        return found

    download_error = "downloading is disabled"
    if download_missing:
        target = cache_dir() / spec.name
        try:
            for role in list(missing):
                found[role] = download(spec, spec.files[role], target, progress)
                missing.remove(role)
        except DatasetError as e:
            download_error = f"download failed: {e}"
    if not missing:
        return found
    names = ", ".join(spec.files[r].name for r in missing)
    searched = "\n".join(f"  {d}  ({root.origin})" for root in roots for d in candidate_dirs(spec, root))
    raise DatasetError(
        f"{spec.title}: missing {names}.\nSearched:\n{searched}\n"
        f"and {download_error}.\nPut the files (gzipped or not) into {cache_dir() / spec.name}/ or "
        f"into a directory named by --data-dir or ${ENV_VAR} (directly or in a '{spec.name}/' "
        f"sub-directory). Official source: {spec.mirrors[0]}"
    )
