"""The mirror source against a local HTTP server: MD5 checks and falling through to the next mirror."""

import functools
import hashlib
import http.server
import threading

import pytest
from data_helpers import SMALL_COUNTS, assert_same, idx_files, random_splits

from prunelab.data import fetch, load, mirrors, published
from prunelab.data.mirrors import download, fetch_from_mirrors
from prunelab.errors import PrunelabError


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def serve(tmp_path):
    """Serve a dict of file name -> bytes on 127.0.0.1; return the base URL (ends with /)."""
    servers = []

    def start(files: dict[str, bytes], name: str) -> str:
        root = tmp_path / name
        root.mkdir()
        for file_name, data in files.items():
            (root / file_name).write_bytes(data)
        handler = functools.partial(QuietHandler, directory=str(root))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def md5s_of(files):
    return {name: hashlib.md5(data).hexdigest() for name, data in files.items()}


def test_good_mirror_supplies_all_four_files(serve):
    splits = random_splits()
    files = idx_files(splits, gz=True)
    url = serve(files, "good")
    got, used = fetch_from_mirrors("mnist", SMALL_COUNTS, mirrors=(url,), md5s=md5s_of(files))
    assert used == [url]
    assert_same(splits, got)


def test_wrong_md5_is_rejected_and_the_next_mirror_tried(serve):
    splits = random_splits()
    files = idx_files(splits, gz=True)
    impostor = serve(idx_files(random_splits(seed=9), gz=True), "impostor")
    good = serve(files, "good")
    got, used = fetch_from_mirrors("mnist", SMALL_COUNTS, mirrors=(impostor, good), md5s=md5s_of(files))
    assert used == [good]
    assert_same(splits, got)


def test_missing_files_and_dead_hosts_fall_through(serve):
    splits = random_splits()
    files = idx_files(splits, gz=True)
    empty = serve({}, "empty")
    dead = "http://127.0.0.1:9/"  # discard port: connection refused at once
    good = serve(files, "good")
    got, used = fetch_from_mirrors("fashion-mnist", SMALL_COUNTS, mirrors=(dead, empty, good), md5s=md5s_of(files))
    assert used == [good]
    assert_same(splits, got)


def test_no_working_mirror_reports_each_failure(serve):
    files = idx_files(random_splits(), gz=True)
    impostor = serve(idx_files(random_splits(seed=9), gz=True), "impostor")
    empty = serve({}, "empty")
    with pytest.raises(PrunelabError) as error:
        fetch_from_mirrors("mnist", SMALL_COUNTS, mirrors=(impostor, empty), md5s=md5s_of(files))
    message = str(error.value)
    assert f"{impostor}train-images-idx3-ubyte.gz (MD5 " in message and "does not match" in message
    assert f"{empty}train-images-idx3-ubyte.gz (HTTP 404)" in message


def test_fetch_through_mirrors_then_cache(serve, tmp_path, monkeypatch):
    splits = random_splits()
    files = idx_files(splits, gz=True)
    monkeypatch.setitem(mirrors.MD5S, "mnist", md5s_of(files))
    monkeypatch.setitem(published.PUBLISHED_MD5, "mnist", published.idx_md5s(splits))  # it stands for MNIST
    url = serve(files, "good")
    result = fetch("mnist", cache_dir=tmp_path / "cache", mirrors=(url,), counts=SMALL_COUNTS)
    assert result.source == f"mirror {url}"
    again = fetch("mnist", cache_dir=tmp_path / "cache", mirrors=("http://127.0.0.1:9/",), counts=SMALL_COUNTS)
    assert again.source.startswith("cache ")
    assert_same(splits, load("mnist", cache_dir=tmp_path / "cache", counts=SMALL_COUNTS))


def test_unreachable_host_fails_on_its_one_attempt(monkeypatch):
    import urllib.request

    attempts, real = [], urllib.request.urlopen
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: attempts.append(a) or real(*a, **k))
    with pytest.raises(PrunelabError, match="refused"):  # the refusal itself, not a timeout or a retry
        download("http://127.0.0.1:9/x.gz", timeout=10)
    assert len(attempts) == 1


def test_bad_url_is_a_failure_not_a_crash():
    with pytest.raises(PrunelabError):
        download("not a url")
