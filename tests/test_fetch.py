"""fetch_movielens against a local HTTP server on 127.0.0.1 serving a small archive: download
once, cache, SHA-256 verified (pinned or recorded on first use), clear errors offline."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import zipfile

import pytest

from aerec.datasets import ChecksumError, fetch_movielens


def _archive():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-100k/u.data", "1\t10\t4\t881250949\n2\t20\t5\t881250950\n")
        zf.writestr("ml-100k/README", "test archive\n")
    return buf.getvalue()


@pytest.fixture()
def server():
    payload = {"ml-100k.zip": _archive()}
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            name = self.path.rsplit("/", 1)[-1]
            hits.append(name)
            body = payload.get(name)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", payload, hits
    httpd.shutdown()
    httpd.server_close()


def test_downloads_once_and_verifies(tmp_path, server):
    url, payload, hits = server
    digest = hashlib.sha256(payload["ml-100k.zip"]).hexdigest()
    folder = fetch_movielens("ml-100k", tmp_path, sha256=digest, base_url=url)
    assert (folder / "u.data").read_text().startswith("1\t10\t4")
    again = fetch_movielens("ml-100k", tmp_path, sha256=digest, base_url=url)
    assert again == folder and hits == ["ml-100k.zip"]  # the second call used the cache


def test_wrong_checksum_is_refused_and_removed(tmp_path, server):
    url, _, _ = server
    with pytest.raises(ChecksumError, match="does not match"):
        fetch_movielens("ml-100k", tmp_path, sha256="0" * 64, base_url=url)
    assert not (tmp_path / "ml-100k.zip").exists() and not (tmp_path / "ml-100k").exists()


def test_first_use_records_the_hash_then_detects_tampering(tmp_path, server):
    url, _, _ = server
    fetch_movielens("ml-100k", tmp_path, base_url=url)
    assert len((tmp_path / "ml-100k.zip.sha256").read_text().strip()) == 64
    (tmp_path / "ml-100k.zip").write_bytes(b"tampered")
    with pytest.raises(ChecksumError):
        fetch_movielens("ml-100k", tmp_path, base_url=url)


def test_offline_message_says_where_to_put_the_file(tmp_path):
    with pytest.raises(OSError, match="copy it to"):
        fetch_movielens("ml-1m", tmp_path, base_url="http://127.0.0.1:9/", timeout=2)
    with pytest.raises(OSError, match="not in the cache"):
        fetch_movielens("ml-1m", tmp_path, download_if_missing=False)
    with pytest.raises(ValueError, match="unknown MovieLens"):
        fetch_movielens("ml-7m", tmp_path)
