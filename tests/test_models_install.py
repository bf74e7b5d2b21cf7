"""`install_model` and `ivr models install` against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from speech.asr.install import ModelInstallError, install_model
from speech.asr.registry import list_models


def _model_zip(name: str, extra: dict[str, bytes] | None = None) -> bytes:
    """A small archive with the folder structure of a Vosk model (install mechanics only)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}/am/final.mdl", b"\0" * 2048)
        zf.writestr(f"{name}/conf/mfcc.conf", b"--use-energy=false\n")
        zf.writestr(f"{name}/graph/words.txt", b"<eps> 0\nyes 1\nno 2\n")
        zf.writestr(f"{name}/README", b"test model\n")
        for path, data in (extra or {}).items():
            zf.writestr(path, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def server():
    good = _model_zip("vosk-model-small-xx-0.1")
    corrupt = bytearray(_model_zip("vosk-model-small-yy-0.1"))
    corrupt[200:260] = b"\xff" * 60  # damage the compressed data
    traversal = _model_zip("vosk-model-small-zz-0.1", {"../../evil.txt": b"owned"})
    files = {
        "/good.zip": good,
        "/corrupt.zip": bytes(corrupt),
        "/traversal.zip": traversal,
        "/notzip.zip": b"<html>not found</html>",
    }

    def entry(name, path, data, sha=None):
        return {
            "name": name,
            "url": path.lstrip("/"),
            "lang": "xx",
            "size": len(data),
            "sha256": sha or hashlib.sha256(data).hexdigest(),
        }

    catalog = [
        entry("vosk-model-small-xx-0.1", "/good.zip", good),
        entry("vosk-model-small-yy-0.1", "/corrupt.zip", bytes(corrupt)),
        entry("vosk-model-small-ww-0.1", "/good.zip", good, sha="0" * 64),
        entry("vosk-model-small-zz-0.1", "/traversal.zip", traversal),
        entry("vosk-model-small-nn-0.1", "/notzip.zip", files["/notzip.zip"]),
    ]
    files["/model-list.json"] = json.dumps(catalog).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            data = files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, hashlib.sha256(good).hexdigest()
    httpd.shutdown()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_install_from_catalog_with_progress(server, tmp_path):
    base, _ = server
    seen = []
    path = install_model(
        "vosk-model-small-xx-0.1",
        tmp_path,
        catalog_url=f"{base}/model-list.json",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert path == tmp_path / "vosk-model-small-xx-0.1"
    assert (path / "am" / "final.mdl").is_file() and (path / "conf" / "mfcc.conf").is_file()
    assert seen and seen[-1][0] == seen[-1][1]
    assert _leftovers(tmp_path) == ["vosk-model-small-xx-0.1"]
    info = {m.name: m for m in list_models(tmp_path)}["vosk-model-small-xx-0.1"]
    assert info.language == "xx" and info.engine == "vosk" and info.size_bytes > 2048
    with pytest.raises(ModelInstallError, match="already exists"):
        install_model("vosk-model-small-xx-0.1", tmp_path, catalog_url=f"{base}/model-list.json")


@pytest.mark.parametrize(
    "name, message",
    [
        ("vosk-model-small-yy-0.1", "checksum mismatch|corrupt"),
        ("vosk-model-small-ww-0.1", "checksum mismatch"),
        ("vosk-model-small-zz-0.1", "outside the archive"),
        ("vosk-model-small-nn-0.1", "corrupt archive"),
        ("vosk-model-nope", "not in the model catalog"),
    ],
)
def test_bad_archives_leave_nothing_behind(server, tmp_path, name, message):
    base, _ = server
    with pytest.raises(ModelInstallError, match=message):
        install_model(name, tmp_path, catalog_url=f"{base}/model-list.json")
    assert _leftovers(tmp_path) == []
    assert not (tmp_path.parent / "evil.txt").exists()


def test_corrupt_archive_with_matching_checksum_is_caught_when_unpacking(server, tmp_path):
    base, _ = server
    import urllib.request

    data = urllib.request.urlopen(f"{base}/corrupt.zip").read()
    with pytest.raises(ModelInstallError, match="corrupt"):
        install_model(f"{base}/corrupt.zip", tmp_path, sha256=hashlib.sha256(data).hexdigest())
    assert _leftovers(tmp_path) == []


def test_url_install_needs_a_checksum(server, tmp_path):
    base, sha = server
    with pytest.raises(ModelInstallError, match="SHA-256"):
        install_model(f"{base}/good.zip", tmp_path)
    path = install_model(f"{base}/good.zip", tmp_path, sha256=sha, language="xx")
    assert path.name == "good" and (path / "am").is_dir()


def test_cli_install_and_list(server, tmp_path):
    from ivr.cli import app

    base, _ = server
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "models",
            "install",
            "vosk-model-small-xx-0.1",
            "--catalog",
            f"{base}/model-list.json",
            "--models-dir",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "vosk-model-small-xx-0.1" / "am").is_dir()
    res = runner.invoke(
        app,
        [
            "models",
            "install",
            "vosk-model-small-ww-0.1",
            "--catalog",
            f"{base}/model-list.json",
            "--models-dir",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 2 and "checksum mismatch" in res.output
    res = runner.invoke(
        app, ["models", "list", "--models-dir", str(tmp_path)], env={"COLUMNS": "250"}
    )
    assert res.exit_code == 0 and "vosk-model-small-xx" in res.output and "ko" in res.output
