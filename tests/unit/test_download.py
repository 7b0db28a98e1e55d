"""Downloads against a threaded HTTP server on 127.0.0.1 serving archives the tests build:
checksums, interrupted and resumed transfers (HTTP Range), truncated archives, unsafe
members, layout checks, records, and GTZAN from the user's copy. No other host is contacted."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from support.http import Server, sha, tar_gz

from audiobench.download import (
    DOWNLOADS_DIR,
    RECORD_FILE,
    download_file,
    fetch,
    mirrored,
    safe_extract,
    sources_for,
)
from audiobench.errors import DataError, DownloadError
from audiobench.tasks.base import Source
from audiobench.tasks.gtzan import prepare_gtzan

WAV = b"RIFF....WAVEfmt placeholder"  # content never decoded by these tests


def tar_with(special: tarfile.TarInfo) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("ok/a.wav")
        info.size = len(WAV)
        tar.addfile(info, io.BytesIO(WAV))
        tar.addfile(special, io.BytesIO(b"evil") if special.isfile() else None)
    return buffer.getvalue()


SC_LIKE = {f"{word}/{i:08x}_nohash_0.wav": WAV for word in ("yes", "no") for i in range(3)}
SC_LIKE.update({"validation_list.txt": b"yes/00000000_nohash_0.wav\n", "testing_list.txt": b"no/00000001_nohash_0.wav\n",
                "_background_noise_/white_noise.wav": WAV})


def release_source(server: Server, data: bytes, published: str | None, count: tuple[str, int] | None = None) -> Source:
    server.files["/data/release.tar.gz"] = data
    return Source("release", "http://download.example.org/data/release.tar.gz", published, "release",
                  "release/<word>/*.wav", expect=("validation_list.txt", "_background_noise_"), count=count)


def test_fetch_verifies_the_published_sha256_extracts_and_records(server: Server, tmp_path: Path) -> None:
    data = tar_gz(SC_LIKE)
    source = release_source(server, data, sha(data))
    seen: list[tuple[int, int | None]] = []
    stages: list[str] = []
    record = fetch(source, tmp_path, mirror=server.base, on_progress=lambda done, total: seen.append((done, total)),
                   on_stage=stages.append)
    assert record.verified_by == "published sha256" and record.sha256 == sha(data)
    assert stages == ["verifying", "extracting"]
    assert (tmp_path / "release" / "yes" / "00000000_nohash_0.wav").read_bytes() == WAV
    assert seen[-1] == (len(data), len(data))
    assert not (tmp_path / DOWNLOADS_DIR / "release.tar.gz").exists()  # archive removed after success
    assert json.loads((tmp_path / RECORD_FILE).read_text())["release"]["sha256"] == sha(data)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".extract")] == []
    # A second run finds it in place and does not contact the server.
    before = len(server.requests)
    assert fetch(source, tmp_path, mirror=server.base).status == "present"
    assert len(server.requests) == before


def test_checksum_mismatch_names_file_and_both_hashes_and_deletes_nothing(server: Server, tmp_path: Path) -> None:
    data = tar_gz(SC_LIKE)
    wrong = "0" * 64
    mine = tmp_path / "release" / "my_notes.txt"
    mine.parent.mkdir(parents=True)
    mine.write_text("user data")
    with pytest.raises(DownloadError) as err:
        fetch(release_source(server, data, wrong), tmp_path, mirror=server.base)
    archive = tmp_path / DOWNLOADS_DIR / "release.tar.gz"
    message = str(err.value)
    assert str(archive) in message and wrong in message and sha(data) in message
    assert archive.read_bytes() == data  # kept, for the user to inspect
    assert mine.read_text() == "user data" and sorted(p.name for p in mine.parent.iterdir()) == ["my_notes.txt"]
    assert not (tmp_path / RECORD_FILE).exists()


def test_pinned_sha256_overrides_the_published_one(server: Server, tmp_path: Path) -> None:
    data = tar_gz(SC_LIKE)
    record = fetch(release_source(server, data, "0" * 64), tmp_path, mirror=server.base, sha256=sha(data))
    assert record.verified_by == "pinned sha256"


def test_interrupted_transfer_keeps_the_part_file_and_resumes_with_a_range_request(server: Server,
                                                                                    tmp_path: Path) -> None:
    data = tar_gz({f"f{i}.bin": os.urandom(2000) for i in range(20)})  # incompressible: ~40 kB
    source = release_source(server, data, sha(data), count=None)
    source = Source(**{**source.__dict__, "expect": ("f0.bin",)})
    server.cut["/data/release.tar.gz"] = 10_000
    with pytest.raises(DownloadError, match="interrupted after 10,000 bytes"):
        fetch(source, tmp_path, mirror=server.base, retries=0)
    part = tmp_path / DOWNLOADS_DIR / "release.tar.gz.part"
    assert part.read_bytes() == data[:10_000]
    fetch(source, tmp_path, mirror=server.base, retries=0)
    assert server.requests[-1] == ("/data/release.tar.gz", "bytes=10000-")
    assert (tmp_path / "release" / "f19.bin").stat().st_size == 2000
    assert not part.exists()


def test_retries_resume_within_one_call(server: Server, tmp_path: Path) -> None:
    data = os.urandom(50_000)
    server.files["/big.bin"] = data
    server.cut["/big.bin"] = 12_345
    dest = tmp_path / "big.bin"
    download_file(server.url("/big.bin"), dest, retries=1)
    assert dest.read_bytes() == data
    assert [r for _, r in server.requests] == [None, "bytes=12345-"]


def test_a_passing_server_error_is_retried(server: Server, tmp_path: Path) -> None:
    data = os.urandom(20_000)
    server.files["/big.bin"] = data
    server.fail_next = [503]
    download_file(server.url("/big.bin"), tmp_path / "big.bin", retries=1)
    assert (tmp_path / "big.bin").read_bytes() == data and len(server.requests) == 2


def test_a_server_ignoring_range_restarts_the_file(server: Server, tmp_path: Path) -> None:
    data = os.urandom(30_000)
    server.files["/big.bin"] = data
    server.ignore_range = True
    dest = tmp_path / "big.bin"
    (tmp_path / "big.bin.part").write_bytes(data[:7000])
    download_file(server.url("/big.bin"), dest, retries=0)
    assert dest.read_bytes() == data


def test_a_server_answering_another_range_restarts_the_file(server: Server, tmp_path: Path) -> None:
    data = os.urandom(30_000)
    server.files["/big.bin"] = data
    server.range_from = 0
    (tmp_path / "big.bin.part").write_bytes(data[:7000])
    download_file(server.url("/big.bin"), tmp_path / "big.bin", retries=1)
    assert (tmp_path / "big.bin").read_bytes() == data
    assert [r for _, r in server.requests] == ["bytes=7000-", None]


def test_missing_file_on_the_server_is_one_clear_error(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"/nope.tar.gz: HTTP 404"):
        download_file(server.url("/nope.tar.gz"), tmp_path / "nope.tar.gz")


def test_truncated_archive_without_a_checksum_is_refused_and_nothing_is_extracted(server: Server,
                                                                                  tmp_path: Path) -> None:
    data = tar_gz({f"f{i}.bin": os.urandom(3000) for i in range(10)})
    source = release_source(server, data[: len(data) // 2], None)
    with pytest.raises(DownloadError, match="not a readable archive"):
        fetch(source, tmp_path, mirror=server.base)
    assert sorted(p.name for p in tmp_path.iterdir()) == [DOWNLOADS_DIR]


def test_layout_and_count_verify_archives_without_a_published_checksum(server: Server, tmp_path: Path) -> None:
    data = tar_gz(SC_LIKE)
    with pytest.raises(DownloadError, match=r"holds 7 files matching \*/\*.wav, expected 3,081"):
        fetch(release_source(server, data, None, count=("*/*.wav", 3081)), tmp_path, mirror=server.base)
    assert not (tmp_path / "release").exists()
    record = fetch(release_source(server, data, None, count=("*/*.wav", 7)), tmp_path, mirror=server.base)
    assert record.verified_by == "layout and file count" and record.sha256 == sha(data)


def test_an_archive_without_the_expected_layout_says_what_is_missing(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="missing validation_list.txt, _background_noise_"):
        fetch(release_source(server, tar_gz({"README": b"x"}), None), tmp_path, mirror=server.base)


def test_strip_moves_the_github_folder_up_and_never_overwrites(server: Server, tmp_path: Path) -> None:
    esc = Source("esc50", "https://github.com/karolpiczak/ESC-50/archive/master.zip", None, "", "esc50 layout",
                 strip="ESC-50-master", expect=("meta/esc50.csv", "audio"), count=("audio/*.wav", 2))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ("audio/1-100-A-0.wav", "audio/2-101-A-0.wav", "meta/esc50.csv"):
            zf.writestr(f"ESC-50-master/{name}", WAV)
    server.files["/karolpiczak/ESC-50/archive/master.zip"] = buffer.getvalue()
    (tmp_path / "audio").mkdir(parents=True)
    (tmp_path / "audio" / "mine.wav").write_bytes(b"mine")
    with pytest.raises(DataError, match="already holds audio"):
        fetch(esc, tmp_path, mirror=server.base, keep_archive=True)
    assert sorted(p.name for p in (tmp_path / "audio").iterdir()) == ["mine.wav"]
    (tmp_path / "audio" / "mine.wav").unlink()
    (tmp_path / "audio").rmdir()
    fetch(esc, tmp_path, mirror=server.base)
    assert (tmp_path / "meta" / "esc50.csv").is_file() and len(list((tmp_path / "audio").glob("*.wav"))) == 2


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    if kind == tarfile.REGTYPE:
        info.size = 4
    return info


@pytest.mark.parametrize("member, why", [
    (special("../evil.txt", tarfile.REGTYPE), "contains '..'"),
    (special("ok/../../evil.txt", tarfile.REGTYPE), "contains '..'"),
    (special("/tmp/evil.txt", tarfile.REGTYPE), "absolute path"),
    (special("ok/link", tarfile.SYMTYPE, "/etc/passwd"), "is a link"),
    (special("ok/hard", tarfile.LNKTYPE, "ok/a.wav"), "is a link"),
    (special("ok/fifo", tarfile.FIFOTYPE), "not a regular file"),
])
def test_unsafe_tar_members_are_refused(tmp_path: Path, member: tarfile.TarInfo, why: str) -> None:
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_with(member))
    target = tmp_path / "out" / "inner"
    target.mkdir(parents=True)
    with pytest.raises(DownloadError, match=why) as err:
        safe_extract(archive, target)
    assert member.name in str(err.value)
    assert not (tmp_path / "out" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize("name, why", [("../evil.txt", "contains '..'"), ("/evil.txt", "absolute path"),
                                       ("C:/evil.txt", "absolute path")])
def test_unsafe_zip_members_are_refused_before_anything_is_written(tmp_path: Path, name: str, why: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok/a.wav", WAV)
        zf.writestr(name, b"evil")
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(DownloadError, match=why):
        safe_extract(archive, target)
    assert list(target.iterdir()) == []


def test_zip_symlinks_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("ok/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    (tmp_path / "out").mkdir()
    with pytest.raises(DownloadError, match="is a link"):
        safe_extract(archive, tmp_path / "out")


def test_path_traversal_through_the_whole_fetch_extracts_nothing(server: Server, tmp_path: Path) -> None:
    data = tar_gz({**SC_LIKE, "../../escaped.txt": b"evil"})
    root = tmp_path / "root"
    with pytest.raises(DownloadError, match="'../../escaped.txt' contains '..'"):
        fetch(release_source(server, data, sha(data)), root, mirror=server.base)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert sorted(p.name for p in root.iterdir()) == [DOWNLOADS_DIR]


def test_sources_are_data_and_mirrors_keep_the_official_path() -> None:
    parts = {s.name: s for s in sources_for("speechcommands")}
    assert list(parts) == ["v0.02", "v0.01", "test_set_v0.01", "test_set_v0.02"]
    assert parts["v0.02"].sha256 == "af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"
    assert parts["v0.01"].sha256 == "743935421bb51cccdb6bdd152e04c5c70274e935c82119ad7faeec31780d811d"
    assert parts["test_set_v0.01"].count == ("*/*.wav", 3081)
    assert mirrored(parts["v0.01"].url, "http://127.0.0.1:8/m/") == \
        "http://127.0.0.1:8/m/data/speech_commands_v0.01.tar.gz"
    assert sources_for("esc50")[0].url == "https://github.com/karolpiczak/ESC-50/archive/master.zip"
    with pytest.raises(DataError, match="prepare gtzan"):
        sources_for("gtzan")
    with pytest.raises(DataError, match="unknown part"):
        sources_for("speechcommands", ["v3"])


# ----- GTZAN from the user's copy --------------------------------------------------------------

GTZAN_IDS = ["blues.00000", "blues.00001", "jazz.00053", "jazz.00054"]


def audio_bytes(fmt: str) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(2205, dtype=np.float32), 22_050, format=fmt, subtype="PCM_16")
    return buffer.getvalue()


def gtzan_members(prefix: str, ext: str, unreadable: str | None = None) -> dict[str, bytes]:
    good = audio_bytes(ext.lstrip(".").upper())
    return {f"{prefix}/{c.split('.')[0]}/{c}{ext}": (b"not audio" if c == unreadable else good) for c in GTZAN_IDS}


def test_prepare_gtzan_from_a_tar_gz_of_genres(tmp_path: Path) -> None:
    archive = tmp_path / "genres.tar.gz"
    archive.write_bytes(tar_gz(gtzan_members("genres", ".au")))
    report = prepare_gtzan(archive, tmp_path / "gtzan")
    assert report.action == "extracted" and report.dest == tmp_path / "gtzan" / "genres"
    assert report.per_genre == {"blues": 2, "jazz": 2} and report.extensions == {".au": 4}
    assert report.unreadable == []
    assert json.loads((tmp_path / "gtzan" / RECORD_FILE).read_text())["gtzan"]["sha256"] == report.sha256


def test_prepare_gtzan_from_a_folder_finds_genres_original_and_reports_unreadable_files(tmp_path: Path) -> None:
    for rel, data in gtzan_members("Data/genres_original", ".wav", unreadable="jazz.00054").items():
        (tmp_path / "copy" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "copy" / rel).write_bytes(data)
    report = prepare_gtzan(tmp_path / "copy", tmp_path / "gtzan")
    assert report.action == "copied" and report.dest.name == "genres_original"
    assert [rel for rel, _ in report.unreadable] == ["genres_original/jazz/jazz.00054.wav"]
    assert (tmp_path / "copy" / "Data/genres_original/jazz/jazz.00054.wav").exists()  # the source is untouched
    with pytest.raises(DataError, match="already exists"):
        prepare_gtzan(tmp_path / "copy", tmp_path / "gtzan")
    assert prepare_gtzan(tmp_path / "gtzan", tmp_path / "gtzan").action == "already in place"


def test_prepare_gtzan_refuses_a_folder_without_genres(tmp_path: Path) -> None:
    (tmp_path / "copy" / "music").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no genres/ or genres_original/"):
        prepare_gtzan(tmp_path / "copy", tmp_path / "gtzan")
    assert [p for p in (tmp_path / "gtzan").iterdir()] == []
