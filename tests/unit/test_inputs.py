"""Bad inputs are one clear error (or a skipped, listed clip), never a silently wrong number or
a traceback: non-finite and vanishing audio, and every kind of broken task metadata. Property
tests feed the audio loader and the task loaders random bytes, headers and rows."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.trees import small_esc50

from audiobench.audio import load_audio
from audiobench.errors import AudiobenchError, AudioReadError, DataError
from audiobench.tasks import get_task

PROPERTY = settings(max_examples=40, deadline=2000, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HEADER = "filename,fold,target,category,esc10,src_file,take"


@pytest.mark.parametrize("bad, reason", [(np.nan, "1 NaN or infinite sample"), (np.inf, "1 NaN or infinite sample")])
def test_non_finite_audio_is_unreadable(tmp_path: Path, bad: float, reason: str) -> None:
    samples = np.full(800, 0.1, dtype=np.float32)
    samples[400] = bad
    sf.write(tmp_path / "clip.wav", samples, 16_000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match=f"cannot read audio file {tmp_path / 'clip.wav'}: {reason}"):
        load_audio(tmp_path / "clip.wav", 16_000)


def test_audio_empty_after_resampling_is_unreadable(tmp_path: Path) -> None:
    sf.write(tmp_path / "one.wav", np.array([0.5], dtype=np.float32), 44_100)
    with pytest.raises(AudioReadError, match="1 sample.s. at 44100 Hz leave none at 16000 Hz"):
        load_audio(tmp_path / "one.wav", 16_000)
    assert load_audio(tmp_path / "one.wav", 44_100).shape == (1,)


def test_a_nan_clip_stops_embed_naming_it_or_is_skipped_and_listed(synth_root: Path, tmp_path: Path,
                                                                    run_cli) -> None:
    root = small_esc50(synth_root / "esc50", tmp_path / "esc50", clips=8)
    victim = sorted((root / "audio").iterdir())[0]
    samples, rate = sf.read(victim, dtype="float32")
    samples[10] = np.nan
    sf.write(victim, samples, rate, subtype="FLOAT")
    args = ("embed", "--encoder", "logmel", "--task", "esc50", "--data-root", root, "--cache-dir", tmp_path / "c",
            "--workers", "0")
    code, _, err = run_cli(*args)
    assert code == 2 and f"error: cannot read audio file {victim}: 1 NaN or infinite sample(s)" in err
    code, _, err = run_cli(*args, "--skip-bad")
    assert code == 0, err
    assert "skipped 1 unreadable clip(s)" in err and f"audio/{victim.name}: 1 NaN or infinite sample(s)" in err


def test_a_one_sample_clip_encodes_alone_in_its_batch(synth_root: Path, tmp_path: Path, run_cli) -> None:
    root = small_esc50(synth_root / "esc50", tmp_path / "esc50", clips=2)
    sf.write(sorted((root / "audio").iterdir())[0], np.array([0.25], dtype=np.float32), 16_000)
    code, _, err = run_cli("embed", "--encoder", "logmel", "--task", "esc50", "--data-root", root,
                           "--cache-dir", tmp_path / "c", "--batch-size", "1", "--workers", "0")
    assert code == 0 and "0 cached, 2 encoded" in err, err


def esc50_tree(tmp_path: Path, csv_text: str | bytes, files: tuple[str, ...] = ()) -> Path:
    (tmp_path / "meta").mkdir(parents=True, exist_ok=True)
    (tmp_path / "audio").mkdir(exist_ok=True)
    for name in files:
        (tmp_path / "audio" / name).touch()
    data = csv_text.encode() if isinstance(csv_text, str) else csv_text
    (tmp_path / "meta" / "esc50.csv").write_bytes(data)
    return tmp_path


ROW_A, ROW_B = "1-1-A-0.wav,1,0,dog,True,1,A", "2-2-A-1.wav,2,1,rooster,False,2,A"


@pytest.mark.parametrize("rows, message", [
    ([ROW_A, ROW_B, ROW_A], "line 4: field 'filename': 1-1-A-0.wav is listed again on line 2"),
    ([ROW_A, ROW_B, "1-1-A-0.wav,3,0,dog,True,1,A"],
     "line 4: field 'filename': 1-1-A-0.wav is listed in fold 3, and in fold 1 on line 2"),
    ([ROW_A, "2-2-A-50.wav,2,50,newthing,False,2,A"], "line 3: field 'target' is 50, outside 0..49"),
    ([ROW_A, "2-2-A-1.wav,2,1,dog,False,2,A", ROW_B.replace("2-2", "3-3")],
     "line 4: field 'category': target 1 is 'rooster' here but 'dog' on line 3"),
    ([ROW_A, "2-2-A-1.wav,two,1,rooster,False,2,A"], "line 3: field 'fold' is 'two', not an integer"),
    ([ROW_A, "2-2-A-1.wav,2,1.0,rooster,False,2,A"], "line 3: field 'target' is '1.0', not an integer"),
    ([ROW_A, "2-2-A-1.wav,6,1,rooster,False,2,A"], "line 3: field 'fold' is 6, outside 1..5"),
    ([ROW_A, "2-2-A-1.wav,2,1"], "line 3: fewer fields than the header's 7"),
    ([ROW_A, "../x.wav,2,1,rooster,False,2,A"], "line 3: field 'filename' is '../x.wav', not a file name"),
])
def test_bad_esc50_metadata_is_one_line_naming_file_line_and_field(tmp_path: Path, rows: list[str],
                                                                    message: str) -> None:
    root = esc50_tree(tmp_path, "\n".join([HEADER, *rows]) + "\n")
    with pytest.raises(DataError) as err:
        get_task("esc50").manifest(root, "5fold")
    assert str(err.value).startswith(f"{root / 'meta' / 'esc50.csv'} {message}")
    assert "\n" not in str(err.value)


def test_a_latin1_csv_names_the_line_of_the_first_bad_byte(tmp_path: Path) -> None:
    root = esc50_tree(tmp_path, f"{HEADER}\n{ROW_A}\n2-2-A-1.wav,2,1,caf\xe9,False,2,A\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"esc50.csv line 3: not UTF-8 text \(byte 0xe9\)"):
        get_task("esc50").manifest(root, "5fold")


def speechcommands_tree(tmp_path: Path, validation: str, testing: str) -> Path:
    tree = tmp_path / "v0.02"
    for path in ("yes/a_nohash_0.wav", "no/b_nohash_0.wav", "no/c_nohash_0.wav", "no/d_nohash_0.wav"):
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).touch()
    (tree / "validation_list.txt").write_text(validation)
    (tree / "testing_list.txt").write_text(testing)
    return tmp_path


@pytest.mark.parametrize("validation, testing, message", [
    ("yes/a_nohash_0.wav\nyes/a_nohash_0.wav\n", "", "validation_list.txt line 2: yes/a_nohash_0.wav is listed again on line 1"),
    ("no/b_nohash_0.wav\n", "\nno/b_nohash_0.wav\n", "testing_list.txt line 2: no/b_nohash_0.wav is listed and in validation_list.txt on line 1"),
    ("no/b_nohash_0.wav\nb_nohash_0.wav\n", "", "validation_list.txt line 2: 'b_nohash_0.wav' is not a <word>/<file>.wav path"),
])
def test_bad_speechcommands_lists_are_one_line_naming_file_and_line(tmp_path: Path, validation: str, testing: str,
                                                                    message: str) -> None:
    root = speechcommands_tree(tmp_path, validation, testing)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        get_task("speechcommands").manifest(root, "v2-35")


# ----- properties -------------------------------------------------------------------------------

def wav_header(format_tag: int, channels: int, rate: int, bits: int, data: bytes) -> bytes:
    block = max(1, channels * bits // 8)
    fmt = struct.pack("<HHIIHH", format_tag, channels, rate, (rate * block) % 2**32, block, bits)
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", len(data)) + data)


WAVS = st.one_of(
    st.binary(max_size=300),
    st.builds(wav_header, st.sampled_from([0, 1, 3, 6, 7, 0xFFFE, 0x1234]), st.integers(0, 9),
              st.sampled_from([0, 1, 8000, 16_000, 44_100, 2**31 - 1]), st.sampled_from([0, 1, 8, 16, 24, 32, 64]),
              st.binary(max_size=400)),
)


@PROPERTY
@given(data=WAVS)
def test_the_audio_loader_returns_finite_samples_or_one_clear_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "clip.wav"
    path.write_bytes(data)
    try:
        audio = load_audio(path, 16_000)
    except AudioReadError as err:
        assert str(path) in str(err) and "\n" not in str(err)
        return
    assert audio.ndim == 1 and audio.dtype == np.float32 and len(audio) > 0 and np.isfinite(audio).all()


FIELD = st.one_of(st.sampled_from(["1-1-A-0.wav", "2-2-A-1.wav", "1", "2", "5", "0", "dog", "cat", "", "1.5", '"']),
                  st.integers(-2, 60).map(str), st.text(max_size=6))
ROWS = st.lists(st.lists(FIELD, max_size=8).map(",".join), max_size=6)


@PROPERTY
@given(rows=ROWS, header=st.sampled_from([HEADER, "filename,fold,target", ""]), latin1=st.booleans())
def test_the_esc50_loader_builds_a_manifest_or_raises_one_clear_error(tmp_path: Path, rows: list[str], header: str,
                                                                      latin1: bool) -> None:
    text = "\n".join([header, *rows])
    try:
        data = text.encode("latin-1") if latin1 else text.encode("utf-8", "surrogatepass")
    except UnicodeEncodeError:
        data = text.encode("utf-8", "replace")
    root = esc50_tree(tmp_path, data, files=("1-1-A-0.wav", "2-2-A-1.wav"))
    check_loader(lambda: get_task("esc50").manifest(root, "5fold"))


LINES = st.lists(st.one_of(st.sampled_from(["yes/a_nohash_0.wav", "no/b_nohash_0.wav", "no/c_nohash_0.wav",
                                            "maybe/x_nohash_0.wav", "", "/abs.wav", "yes/../no/b.wav"]),
                           st.text(max_size=12)), max_size=5).map("\n".join)


@PROPERTY
@given(validation=LINES, testing=LINES)
def test_the_speechcommands_loader_builds_a_manifest_or_raises_one_clear_error(tmp_path: Path, validation: str,
                                                                               testing: str) -> None:
    root = speechcommands_tree(tmp_path, validation, testing)
    check_loader(lambda: get_task("speechcommands").manifest(root, "v2-35"))


def check_loader(load) -> None:
    try:
        manifest = load()
    except AudiobenchError as err:
        assert "\n" not in str(err)
        return
    for fold in manifest.folds:
        roles = [set(fold.train), set(fold.valid), set(fold.test)]
        assert not (roles[0] & roles[1] or roles[0] & roles[2] or roles[1] & roles[2])
    assert len({clip.id for clip in manifest.clips}) == len(manifest.clips)
    assert all(0 <= clip.label < len(manifest.label_names) for clip in manifest.clips)
