"""fetch: the real download path through pooch against a loopback HTTP server (success, checksum
mismatch, truncated transfer, interrupted then resumed, trust on first use), copies from the real
mirror, tampered mirror copies, a hostile archive, and the offline ml-1m case. Whatever fails, no
partial file may be left in the output folder."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import threading
import zipfile
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from bench.cli import main as recx
from bench.data.archive import extract_member, unsafe_members
from bench.data.fetch import fetch_dataset
from bench.data.prepare import PrepareOptions, prepare_dataset
from bench.errors import FetchError
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.network

SOURCES = REPO_ROOT / "datasets" / "sources.yaml"


# -- a loopback server -----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.routes[path] = (body, mode)``; mode ``ok``, ``truncate`` (announce the full
    Content-Length, send half, close) or ``flaky`` (truncate the first request only)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        server = self.server
        server.hits[self.path] += 1
        if self.path not in server.routes:
            self.send_error(404)
            return
        body, mode = server.routes[self.path]
        if mode == "flaky":
            mode = "truncate" if server.hits[self.path] == 1 else "ok"
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "truncate":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.routes = {}
    httpd.hits = Counter()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(httpd, path: str) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}{path}"


# -- a toy MovieLens-style release -----------------------------------------------------------------

N_USERS, N_ITEMS = 40, 60


def _ratings_csv() -> bytes:
    lines = ["userId,movieId,rating,timestamp"]
    for u in range(1, N_USERS + 1):
        for i in range(1, N_ITEMS + 1):
            if (u * 7 + i * 3) % 4 == 0:
                lines.append(f"{u},{i},{((u + i) % 10 + 1) / 2},{1_000_000 + u * 1000 + i}")
    return ("\r\n".join(lines) + "\r\n").encode()


def _movies_csv() -> bytes:
    rows = ["movieId,title,genres"] + [f'{i},"Movie {i}, The (2000)",Drama|Comedy' for i in range(1, N_ITEMS + 1)]
    return ("\r\n".join(rows) + "\r\n").encode()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


RATINGS, MOVIES = _ratings_csv(), _movies_csv()
TOY_ZIP = _zip({"toy/ratings.csv": RATINGS, "toy/movies.csv": MOVIES, "toy/README.txt": b"x" * 50_000})
N_RATINGS = RATINGS.count(b"\n") - 1


def _toy_sources(tmp_path: Path, url: str, *, pin: bool = True, zip_sha: str | None = None) -> Path:
    doc = {
        "version": 1,
        "datasets": {
            "toy": {
                "parser": "movielens-csv",
                "licence": "test data",
                "citation": "none",
                "mirror_folder": "toy",
                "rating_scale": {"min": 0.5, "max": 5.0, "step": 0.5},
                "archive": {
                    "name": "toy.zip",
                    "url": url,
                    "sha256": (zip_sha or _sha(TOY_ZIP)) if pin else None,
                    "prefix": "toy/",
                },
                "files": [
                    {"name": "ratings.csv", "sha256": _sha(RATINGS) if pin else None},
                    {"name": "movies.csv", "sha256": _sha(MOVIES) if pin else None},
                ],
            }
        },
    }
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _assert_nothing_partial(out: Path) -> None:
    """No file in ``out`` and no temporary folder or file beside it."""
    assert not out.exists() or not any(p.is_file() for p in out.rglob("*")), sorted(out.rglob("*"))
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert leftovers == []


# -- the download path -----------------------------------------------------------------------------


def test_download_through_pooch_then_prepare(server, tmp_path):
    server.routes["/toy.zip"] = (TOY_ZIP, "ok")
    sources = _toy_sources(tmp_path, _url(server, "/toy.zip"))
    out = tmp_path / "raw" / "toy"
    report = fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=tmp_path / "lock", progress=False)
    assert (out / "ratings.csv").read_bytes() == RATINGS
    assert (out / "movies.csv").read_bytes() == MOVIES
    assert not (out / "README.txt").exists()  # only declared members are extracted
    assert sorted(p.name for p in out.iterdir()) == ["fetch.json", "movies.csv", "ratings.csv"]
    assert [f.origin for f in report.files] == ["url", "url"]
    prov = json.loads((out / "fetch.json").read_text())
    assert prov["archive"] == {
        "bytes": len(TOY_ZIP), "name": "toy.zip", "origin": "url", "sha256": _sha(TOY_ZIP),
        "source": _url(server, "/toy.zip"),
    }
    assert prov["files"][1] == {
        "bytes": len(RATINGS), "name": "ratings.csv", "origin": "url", "sha256": _sha(RATINGS),
        "source": _url(server, "/toy.zip") + "#toy/ratings.csv",
    }
    assert str(tmp_path) not in (out / "fetch.json").read_text()
    assert not (tmp_path / "lock").exists()  # everything was pinned: nothing to record
    _assert_nothing_partial(tmp_path / "raw" / "other")

    data = prepare_dataset("toy", sources=sources, raw=out, out=tmp_path / "prepared", options=PrepareOptions(),
                           lock=tmp_path / "lock")
    assert data.stats["n_interactions"] == N_RATINGS
    assert data.stats["inputs"]["ratings.csv"] == _sha(RATINGS)
    assert data.items["title"].iloc[0] == "Movie 1, The (2000)"


def test_checksum_mismatch_leaves_nothing(server, tmp_path):
    evil = _zip({"toy/ratings.csv": RATINGS.replace(b"4.5", b"5.0"), "toy/movies.csv": MOVIES})
    server.routes["/toy.zip"] = (evil, "ok")
    sources = _toy_sources(tmp_path, _url(server, "/toy.zip"))
    out = tmp_path / "raw" / "toy"
    with pytest.raises(FetchError) as err:
        fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=tmp_path / "lock", retries=0,
                      progress=False)
    msg = str(err.value)
    assert "toy.zip" in msg and _url(server, "/toy.zip") in msg
    assert f"expected {_sha(TOY_ZIP)}" in msg and f"got {_sha(evil)}" in msg
    assert "retry" in msg and "sources.yaml" in msg
    _assert_nothing_partial(out)
    assert not (tmp_path / "lock").exists()


@pytest.mark.parametrize("pin", [True, False], ids=["pinned", "trust-on-first-use"])
def test_truncated_transfer_is_detected(server, tmp_path, pin):
    """The server announces the full Content-Length and closes half way; even without a pinned hash
    the short transfer must not be accepted (or recorded in the lock)."""
    server.routes["/toy.zip"] = (TOY_ZIP, "truncate")
    sources = _toy_sources(tmp_path, _url(server, "/toy.zip"), pin=pin)
    out = tmp_path / "raw" / "toy"
    with pytest.raises(FetchError) as err:
        fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=tmp_path / "lock", retries=0,
                      progress=False)
    assert "could not obtain 'ratings.csv'" in str(err.value)
    assert "ChunkedEncodingError" in str(err.value) or "IncompleteRead" in str(err.value)
    assert server.hits["/toy.zip"] == 1
    _assert_nothing_partial(out)
    assert not (tmp_path / "lock").exists()


def test_interrupted_then_resumed(server, tmp_path):
    server.routes["/toy.zip"] = (TOY_ZIP, "flaky")
    sources = _toy_sources(tmp_path, _url(server, "/toy.zip"))
    out = tmp_path / "raw" / "toy"
    with pytest.raises(FetchError):
        fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=tmp_path / "lock", retries=0,
                      progress=False)
    _assert_nothing_partial(out)
    fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=tmp_path / "lock", retries=0, progress=False)
    assert (out / "ratings.csv").read_bytes() == RATINGS
    assert server.hits["/toy.zip"] == 2


def test_retry_within_one_fetch(server, tmp_path):
    server.routes["/toy.zip"] = (TOY_ZIP, "flaky")
    sources = _toy_sources(tmp_path, _url(server, "/toy.zip"))
    out = tmp_path / "raw" / "toy"
    fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=tmp_path / "lock", retries=1, progress=False)
    assert (out / "movies.csv").read_bytes() == MOVIES
    assert server.hits["/toy.zip"] == 2


def test_second_url_is_tried(server, tmp_path):
    server.routes["/mirror2/toy.zip"] = (TOY_ZIP, "ok")
    sources = _toy_sources(tmp_path, [_url(server, "/missing.zip"), _url(server, "/mirror2/toy.zip")])
    out = tmp_path / "raw" / "toy"
    report = fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=tmp_path / "lock", retries=0,
                           progress=False)
    assert report.archive.source == _url(server, "/mirror2/toy.zip")
    assert server.hits["/missing.zip"] == 1


def test_trust_on_first_use_records_then_enforces(server, tmp_path):
    server.routes["/toy.zip"] = (TOY_ZIP, "ok")
    sources = _toy_sources(tmp_path, _url(server, "/toy.zip"), pin=False)
    lock = tmp_path / "checksums.lock"
    out = tmp_path / "raw" / "toy"
    report = fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=lock, progress=False)
    assert sorted(report.recorded) == ["movies.csv", "ratings.csv", "toy.zip"]
    recorded = yaml.safe_load(lock.read_text())
    assert recorded == {"toy": {"movies.csv": _sha(MOVIES), "ratings.csv": _sha(RATINGS), "toy.zip": _sha(TOY_ZIP)}}
    first = (out / "fetch.json").read_text()

    # same bytes again: verified against the lock, provenance identical
    shutil.rmtree(out)
    report = fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=lock, progress=False)
    assert report.recorded == () and (out / "fetch.json").read_text() == first

    # upstream changed: refused, with the lock named
    server.routes["/toy.zip"] = (_zip({"toy/ratings.csv": RATINGS + b"9,9,1.0,5\r\n", "toy/movies.csv": MOVIES}), "ok")
    shutil.rmtree(out)
    with pytest.raises(FetchError, match=r"checksums\.lock"):
        fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=lock, retries=0, progress=False)
    _assert_nothing_partial(out)
    assert yaml.safe_load(lock.read_text()) == recorded


def test_archive_taken_from_the_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    (mirror / "toy" / "toy.zip").write_bytes(TOY_ZIP)
    sources = _toy_sources(tmp_path, "http://127.0.0.1:9/never-used.zip")
    out = tmp_path / "raw" / "toy"
    report = fetch_dataset("toy", sources=sources, out=out, mirror=mirror, lock=tmp_path / "lock", progress=False)
    assert report.archive.origin == "mirror" and report.archive.source == "toy/toy.zip"
    assert [f.source for f in report.files] == ["toy/toy.zip#toy/ratings.csv", "toy/toy.zip#toy/movies.csv"]
    assert (out / "ratings.csv").read_bytes() == RATINGS


# -- hostile archives ------------------------------------------------------------------------------


def test_archive_with_escaping_members_is_refused(server, tmp_path):
    hostile = _zip({"../evil": b"pwned", "/abs/path": b"pwned", "toy/ratings.csv": RATINGS, "toy/movies.csv": MOVIES})
    server.routes["/toy.zip"] = (hostile, "ok")
    work = tmp_path / "work"
    work.mkdir()
    sources = _toy_sources(work, _url(server, "/toy.zip"), zip_sha=_sha(hostile))
    out = work / "raw" / "toy"
    with pytest.raises(FetchError) as err:
        fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=work / "lock", progress=False)
    assert "refusing to extract" in str(err.value) and "../evil" in str(err.value)
    _assert_nothing_partial(out)
    written = [p for p in tmp_path.rglob("*") if p.name in ("evil", "path")]
    assert written == [] and not Path("/abs/path").exists()


def test_extract_member_unit(tmp_path):
    assert unsafe_members(["a/b", "../x", "/etc/p", "a/../../b", "C:/w", "ok.txt"]) == ["../x", "/etc/p", "a/../../b", "C:/w"]
    archive = tmp_path / "a.zip"
    archive.write_bytes(_zip({"d/ratings.csv": RATINGS}))
    digest = extract_member(archive, "d/ratings.csv", tmp_path / "out" / "r.csv", source="a.zip")
    assert digest.sha256 == _sha(RATINGS) and digest.bytes == len(RATINGS)
    with pytest.raises(FetchError, match="has no member 'd/movies.csv'"):
        extract_member(archive, "d/movies.csv", tmp_path / "out" / "m.csv", source="a.zip")
    (tmp_path / "broken.zip").write_bytes(TOY_ZIP[: len(TOY_ZIP) // 3])
    with pytest.raises(FetchError, match="not a readable zip"):
        extract_member(tmp_path / "broken.zip", "toy/ratings.csv", tmp_path / "out" / "x.csv", source="broken.zip")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.csv"]


# -- the real mirror -------------------------------------------------------------------------------


def test_mirror_copy_is_verified_and_machine_independent(mirror, tmp_path):
    """fetch.json must not depend on where the mirror lives: two mirror locations, same provenance."""
    other = tmp_path / "elsewhere" / "mirror"
    shutil.copytree(mirror / "ml-100k", other / "ml-100k")
    out_a, out_b = tmp_path / "a" / "ml-100k", tmp_path / "b" / "ml-100k"
    report = fetch_dataset("ml-100k", sources=SOURCES, out=out_a, mirror=mirror, lock=tmp_path / "lock")
    fetch_dataset("ml-100k", sources=SOURCES, out=out_b, mirror=other, lock=tmp_path / "lock")
    assert (out_a / "fetch.json").read_bytes() == (out_b / "fetch.json").read_bytes()
    text = (out_a / "fetch.json").read_text()
    assert str(mirror) not in text and str(tmp_path) not in text
    assert {f.name: (f.origin, f.source) for f in report.files}["u.data"] == ("mirror", "ml-100k/u.data")
    assert hashlib.sha256((out_a / "u.data").read_bytes()).hexdigest() == (
        "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
    )
    assert sorted(p.name for p in out_a.iterdir()) == ["fetch.json", "u.data", "u.genre", "u.item", "u.user"]


def test_tampered_mirror_copy_is_refused(mirror, tmp_path):
    bad = tmp_path / "mirror"
    shutil.copytree(mirror / "ml-100k", bad / "ml-100k")
    data = (bad / "ml-100k" / "u.data").read_bytes()
    (bad / "ml-100k" / "u.data").write_bytes(data.replace(b"\t5\t", b"\t4\t", 1))
    out = tmp_path / "raw" / "ml-100k"
    with pytest.raises(FetchError) as err:
        fetch_dataset("ml-100k", sources=SOURCES, out=out, mirror=bad, lock=tmp_path / "lock")
    msg = str(err.value)
    assert msg.startswith("u.data: checksum mismatch for ml-100k/u.data")
    assert "expected 06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490" in msg
    assert f"got {hashlib.sha256((bad / 'ml-100k' / 'u.data').read_bytes()).hexdigest()}" in msg
    assert str(bad / "ml-100k" / "u.data") in msg and "RECX_DATA_MIRROR" in msg
    _assert_nothing_partial(out)


def test_ml1m_missing_ratings_offline_is_a_clear_error(mirror, tmp_path, monkeypatch, capsys):
    """A mirror that lacks ml-1m/ratings.dat (as the offline mirror did before it was reassembled);
    with no network (a dead proxy) the CLI prints one readable error, exits 2, and writes nothing -
    users.dat and movies.dat included."""
    partial = tmp_path / "mirror"
    (partial / "ml-1m").mkdir(parents=True)
    for name in ("users.dat", "movies.dat"):
        shutil.copy(mirror / "ml-1m" / name, partial / "ml-1m" / name)
    mirror = partial
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    out = tmp_path / "raw" / "ml-1m"
    code = recx(["fetch", "ml-1m", "--sources", str(SOURCES), "--out", str(out), "--mirror", str(mirror)])
    err = capsys.readouterr().err
    assert code == 2
    assert "recx fetch: error: ml-1m: could not obtain 'ratings.dat'" in err
    assert "not in the mirror" in err and "ml-1m.zip" in err and "Traceback" not in err
    assert "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20" in err
    _assert_nothing_partial(out)


def test_missing_mirror_folder_is_an_error(tmp_path):
    with pytest.raises(FetchError, match="RECX_DATA_MIRROR"):
        fetch_dataset("ml-100k", sources=SOURCES, out=tmp_path / "o", mirror=tmp_path / "nope", lock=tmp_path / "l")


def test_server_error_names_file_and_leaves_nothing(server, tmp_path):
    """An HTTP error status (here 404 from the loopback server) is a FetchError naming the file and
    the URL, never a traceback from the HTTP stack, and leaves nothing behind."""
    sources = _toy_sources(tmp_path, _url(server, "/gone/toy.zip"))
    out = tmp_path / "raw" / "toy"
    with pytest.raises(FetchError) as err:
        fetch_dataset("toy", sources=sources, out=out, mirror=None, lock=tmp_path / "lock", retries=0,
                      progress=False)
    msg = str(err.value)
    assert "toy.zip" in msg and _url(server, "/gone/toy.zip") in msg
    assert "404" in msg or "Not Found" in msg
    _assert_nothing_partial(out)
