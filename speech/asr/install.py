"""Installing official Vosk models: download, verify the checksum, unpack safely, move into place.

Names are looked up in the official catalog (`model-list.json`, the list Vosk itself uses, with
each model's URL, size and checksum); the catalog URL can be overridden (tests serve their own
on 127.0.0.1). A URL can be given directly with its SHA-256. Nothing is left behind on failure:
the archive is downloaded into a temporary folder inside `models_dir` and only a fully verified,
fully unpacked model is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx

from speech.asr.base import ASRError
from speech.asr.registry import METADATA_FILE, language_from_name

DEFAULT_CATALOG_URL = "https://alphacephei.com/vosk/models/model-list.json"
MAX_ARCHIVE_BYTES = 8 * 1024**3

Progress = Callable[[int, int | None], None]  # (bytes so far, total or None)


class ModelInstallError(ASRError):
    """A model could not be installed; nothing was left behind."""


@dataclass(frozen=True)
class CatalogEntry:
    """One official model: its archive URL and the checksums to verify."""

    name: str
    url: str
    language: str
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None


def fetch_catalog(
    catalog_url: str = DEFAULT_CATALOG_URL, timeout: float = 30.0
) -> list[CatalogEntry]:
    """Read the model catalog (a JSON list of {name, url, lang, size, md5 and/or sha256})."""
    try:
        resp = httpx.get(catalog_url, timeout=timeout, follow_redirects=True)
        resp.raise_for_status()
        data = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ModelInstallError(f"could not read the model catalog {catalog_url}: {exc}") from exc
    if not isinstance(data, list):
        raise ModelInstallError(f"model catalog {catalog_url} is not a JSON list")
    out = []
    for item in data:
        if not isinstance(item, dict) or "name" not in item or "url" not in item:
            continue
        url = httpx.URL(catalog_url).join(str(item["url"]))  # relative URLs are allowed
        out.append(
            CatalogEntry(
                name=str(item["name"]),
                url=str(url),
                language=str(item.get("lang") or language_from_name(str(item["name"]))),
                size=int(item["size"]) if str(item.get("size", "")).isdigit() else None,
                sha256=item.get("sha256") or None,
                md5=item.get("md5") or None,
            )
        )
    return out


def _safe_members(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    members = zf.infolist()
    for m in members:
        p = PurePosixPath(m.filename.replace("\\", "/"))
        if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
            raise ModelInstallError(f"archive entry {m.filename!r} points outside the archive")
        if (m.external_attr >> 16) & 0o170000 == 0o120000:
            raise ModelInstallError(f"archive entry {m.filename!r} is a symbolic link")
    return members


def _model_root(folder: Path) -> Path:
    """The unpacked model folder: the archive's single top folder, or the folder itself."""
    entries = [p for p in folder.iterdir() if p.name != "__MACOSX"]
    root = entries[0] if len(entries) == 1 and entries[0].is_dir() else folder
    if not (root / "am").is_dir() or not (root / "conf").is_dir():
        raise ModelInstallError("the archive does not hold a Vosk model (no am/ and conf/ folders)")
    return root


def _download(url: str, dest: Path, progress: Progress | None, timeout: float) -> tuple[str, str]:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
            resp.raise_for_status()
            total = resp.headers.get("content-length")
            total_n = int(total) if total and total.isdigit() else None
            done = 0
            with dest.open("wb") as fh:
                for block in resp.iter_bytes(1 << 16):
                    done += len(block)
                    if done > MAX_ARCHIVE_BYTES:
                        raise ModelInstallError(f"{url}: archive larger than {MAX_ARCHIVE_BYTES}")
                    fh.write(block)
                    sha.update(block)
                    md5.update(block)
                    if progress:
                        progress(done, total_n)
    except httpx.HTTPError as exc:
        raise ModelInstallError(f"download of {url} failed: {exc}") from exc
    return sha.hexdigest(), md5.hexdigest()


def install_model(
    name_or_url: str,
    models_dir: Path,
    *,
    sha256: str | None = None,
    catalog_url: str = DEFAULT_CATALOG_URL,
    language: str | None = None,
    progress: Progress | None = None,
    timeout: float = 60.0,
    force: bool = False,
) -> Path:
    """Install a Vosk model into `models_dir/<name>` and return its path.

    `name_or_url` is an official model name (looked up in the catalog at `catalog_url`) or an
    http(s) URL of a zip archive, which then needs `sha256`. The download is verified (SHA-256,
    or the catalog's MD5 when it lists no SHA-256) before anything is unpacked; a bad checksum,
    a corrupt archive or an archive that is not a model raises `ModelInstallError` and leaves
    nothing behind.
    """
    models_dir = Path(models_dir)
    if name_or_url.startswith(("http://", "https://")):
        if not sha256:
            raise ModelInstallError("installing from a URL needs its SHA-256 (--sha256)")
        url = name_or_url
        name = PurePosixPath(httpx.URL(url).path).name.removesuffix(".zip")
        entry = CatalogEntry(name, url, language or language_from_name(name), sha256=sha256)
    else:
        found = [e for e in fetch_catalog(catalog_url, timeout) if e.name == name_or_url]
        if not found:
            raise ModelInstallError(
                f"{name_or_url!r} is not in the model catalog {catalog_url} "
                "(see the official model list for names)"
            )
        entry = found[0]
        if sha256:
            entry = CatalogEntry(entry.name, entry.url, entry.language, entry.size, sha256, None)
    if not (entry.sha256 or entry.md5):
        raise ModelInstallError(f"no checksum known for {entry.name}: pass --sha256")
    if not entry.name or "/" in entry.name or entry.name.startswith("."):
        raise ModelInstallError(f"bad model name {entry.name!r}")
    target = models_dir / entry.name
    if target.exists() and not force:
        raise ModelInstallError(f"{target} already exists (remove it first to reinstall)")
    models_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".installing-", dir=models_dir))
    try:
        archive = work / "model.zip"
        got_sha, got_md5 = _download(entry.url, archive, progress, timeout)
        if entry.sha256 and got_sha.lower() != entry.sha256.lower():
            raise ModelInstallError(
                f"checksum mismatch for {entry.url}: expected SHA-256 {entry.sha256}, got {got_sha}"
            )
        if not entry.sha256 and entry.md5 and got_md5.lower() != entry.md5.lower():
            raise ModelInstallError(
                f"checksum mismatch for {entry.url}: expected MD5 {entry.md5}, got {got_md5}"
            )
        unpacked = work / "unpacked"
        unpacked.mkdir()
        try:
            with zipfile.ZipFile(archive) as zf:
                members = _safe_members(zf)
                bad = zf.testzip()
                if bad is not None:
                    raise ModelInstallError(f"corrupt archive: entry {bad!r} fails its CRC")
                zf.extractall(unpacked, members)
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            raise ModelInstallError(f"corrupt archive from {entry.url}: {exc}") from exc
        root = _model_root(unpacked)
        (root / METADATA_FILE).write_text(
            json.dumps(
                {
                    "name": entry.name,
                    "language": entry.language,
                    "source": entry.url,
                    "sha256": got_sha,
                }
            )
        )
        if target.exists():
            shutil.rmtree(target)
        root.rename(target)  # same filesystem: atomic
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)
