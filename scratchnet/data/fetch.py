"""Finding dataset files on disk, and downloading them (verified, atomically) when missing.

Search order for every file: an explicit ``data_dir`` (``--data-dir``), then each directory in the
environment variable ``SCRATCHNET_DATA`` (``os.pathsep``-separated), then the user cache
(``$XDG_CACHE_HOME/scratchnet`` or ``~/.cache/scratchnet``). In each directory ``D`` the file is
looked for in ``D/<dataset>/`` and then in ``D`` itself, gzipped or not. Missing files are
downloaded into the cache from the official locations, checked against the published MD5 and
only then moved into place.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..io import atomic_write
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
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


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
    """Download ``remote`` from the first mirror that works, verify its MD5, store it atomically.

    Raises ``DatasetError`` listing every URL tried and why it failed.
    """
    from tqdm.auto import tqdm

    dest = dest_dir / remote.name
    failures = []
    for base in spec.mirrors:
        url = base + remote.name

        def write(f, url: str = url) -> None:
            with urllib.request.urlopen(url, timeout=30) as response:
                total = int(response.headers.get("Content-Length") or remote.size)
                h = hashlib.md5(usedforsecurity=False)
                with tqdm(total=total, unit="B", unit_scale=True, desc=remote.name,
                          disable=not progress, leave=False) as bar:  # fmt: skip
                    while chunk := response.read(1 << 16):
                        f.write(chunk)
                        h.update(chunk)
                        bar.update(len(chunk))
            if h.hexdigest() != remote.md5:
                raise DatasetError(
                    f"{url}: downloaded file has MD5 {h.hexdigest()}, expected {remote.md5}; not stored"
                )

        try:
            atomic_write(dest, write)
            return dest
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', None) or e}")
        except DatasetError as e:
            failures.append(str(e))
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
