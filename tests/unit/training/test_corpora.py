"""Each corpus reader on a tiny tree in the corpus's real layout (file names, CSV/TSV/JSON
columns), and ``data prepare`` / ``data info`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiobench.errors import DataError
from audiobench.training.corpora import CAPTION_TEMPLATES, CorpusOptions, label_caption, read_corpus


def clip(path: Path, seconds: float = 0.05, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.full(int(16_000 * seconds), 0.1, dtype=np.float32), 16_000, format=fmt)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def texts(found) -> list[str]:
    return sorted(r.text for r in found.rows)


def test_librispeech(tmp_path: Path) -> None:
    chapter = tmp_path / "LibriSpeech" / "train-clean-100" / "103" / "1240"
    for utt in ("0000", "0001"):
        clip(chapter / f"103-1240-{utt}.flac")
    write(chapter / "103-1240.trans.txt", "103-1240-0000 CHAPTER ONE MISSUS RACHEL\n"
          "103-1240-0001 THAT HAD ITS SOURCE\n103-1240-0002 NO AUDIO FOR THIS ONE\n")
    found = read_corpus("librispeech", tmp_path / "LibriSpeech", CorpusOptions(split="train-clean-100"))
    assert texts(found) == ["CHAPTER ONE MISSUS RACHEL", "THAT HAD ITS SOURCE"]
    assert {(r.domain, r.language) for r in found.rows} == {("speech", "en")}
    assert found.missing == [f"{chapter / '103-1240.trans.txt'}:3"]
    with pytest.raises(DataError, match="not in the librispeech layout"):
        read_corpus("librispeech", tmp_path / "LibriSpeech", CorpusOptions(split="dev-other"))


def test_commonvoice(tmp_path: Path) -> None:
    locale = tmp_path / "cv-corpus-17.0-2024-03-15" / "pt-BR"
    clip(locale / "clips" / "common_voice_pt_1.mp3", fmt="MP3")
    write(locale / "train.tsv", "client_id\tpath\tsentence_id\tsentence\tsentence_domain\tup_votes\tdown_votes\t"
          "age\tgender\taccents\tvariant\tlocale\tsegment\n"
          "abc\tcommon_voice_pt_1.mp3\ts1\tOlá \"mundo\"\t\t2\t0\t\t\t\t\tpt-BR\t\n"
          "abd\tcommon_voice_pt_2.mp3\ts2\tSem áudio\t\t2\t0\t\t\t\t\tpt-BR\t\n")
    found = read_corpus("commonvoice", locale, CorpusOptions())
    assert texts(found) == ['Olá "mundo"'] and found.rows[0].language == "pt" and len(found.missing) == 1
    with pytest.raises(DataError, match="train.tsv and clips/"):
        read_corpus("commonvoice", tmp_path, CorpusOptions())


def test_audiocaps_with_the_users_clips(tmp_path: Path) -> None:
    write(tmp_path / "audiocaps" / "train.csv", "audiocap_id,youtube_id,start_time,caption\n"
          "91139,r1nicOVtvkQ,130,A woman talks nearby as water pours\n"
          "58146,UDGBjjwyaqE,20,Multiple clanging and clanking sounds\n"
          "11,gone00000000,0,A clip nobody could download\n")
    clip(tmp_path / "clips" / "Yr1nicOVtvkQ.wav")
    clip(tmp_path / "clips" / "UDGBjjwyaqE_20.flac")
    found = read_corpus("audiocaps", tmp_path / "audiocaps", CorpusOptions(audio=tmp_path / "clips"))
    assert texts(found) == ["A woman talks nearby as water pours", "Multiple clanging and clanking sounds"]
    assert {r.domain for r in found.rows} == {"sound"} and len(found.missing) == 1


def test_clotho_gives_one_row_per_caption(tmp_path: Path) -> None:
    clip(tmp_path / "development" / "Radio Garble.wav")
    write(tmp_path / "clotho_captions_development.csv", "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
          '"Radio Garble.wav",A radio crackles.,Static on a radio.,"People talk, with static.",'
          "A walkie-talkie.,Radio chatter.\n")
    found = read_corpus("clotho", tmp_path, CorpusOptions())
    assert len(found.rows) == 5 and "People talk, with static." in texts(found)


def test_wavcaps(tmp_path: Path) -> None:
    write(tmp_path / "json_files" / "AudioSet_SL" / "as_final.json", json.dumps(
        {"num_captions_per_audio": 1, "data": [{"id": "Y--0w1YA1Hm4.wav", "caption": "A vehicle engine revs.",
                                                "audio": "wav_path", "duration": 10.0}]}))
    write(tmp_path / "json_files" / "FreeSound" / "fsd_final.json", json.dumps(
        {"num_captions_per_audio": 1, "data": [{"id": "180913", "file_name": "x.wav", "caption": "Birds chirp.",
                                                "audio": "wav_path", "duration": 3.2, "tags": ["birds"]}]}))
    clip(tmp_path / "AudioSet_SL" / "Y--0w1YA1Hm4.flac")
    clip(tmp_path / "FreeSound" / "180913.flac")
    assert texts(read_corpus("wavcaps", tmp_path, CorpusOptions())) == ["A vehicle engine revs.", "Birds chirp."]


def test_musiccaps_and_song_describer(tmp_path: Path) -> None:
    write(tmp_path / "mc" / "musiccaps-public.csv",
          "ytid,start_s,end_s,audioset_positive_labels,aspect_list,caption,author_id,is_balanced_subset,"
          "is_audioset_eval\n"
          '-0Gj8-vB1q4,30,40,"/m/0140xf,/m/02cjck","[\'low quality\']","A low sounding male voice raps.",4,False,True\n'
          '-0SdAVK79lg,30,40,/m/0155w,"[\'guitar\']","Someone plays a guitar.",0,False,False\n')
    clip(tmp_path / "downloads" / "[-0Gj8-vB1q4]-[30-40].wav")
    found = read_corpus("musiccaps", tmp_path / "mc", CorpusOptions(audio=tmp_path / "downloads"))
    assert texts(found) == ["A low sounding male voice raps."] and found.rows[0].domain == "music"
    assert len(found.missing) == 1

    sdd = tmp_path / "sdd"
    clip(sdd / "audio" / "00" / "18500.2min.mp3", fmt="MP3")
    write(sdd / "song_describer.csv", "caption_id,track_id,caption,is_valid_subset,familiarity,artist_id,album_id,"
          "path,duration\n1,18500,A retro drum machine groove.,True,0,3,4,00/18500.mp3,241.0\n")
    assert texts(read_corpus("songdescriber", sdd, CorpusOptions())) == ["A retro drum machine groove."]


def test_labelled_sets_are_captioned_from_a_seeded_template_set(tmp_path: Path) -> None:
    write(tmp_path / "FSD50K.ground_truth" / "dev.csv", "fname,labels,mids,split\n"
          '64760,"Electric_guitar,Guitar,Music","/m/02sgy,/m/0342h,/m/04rlf",train\n')
    clip(tmp_path / "FSD50K.dev_audio" / "64760.wav")
    options = CorpusOptions(csv=tmp_path / "FSD50K.ground_truth" / "dev.csv", audio=tmp_path / "FSD50K.dev_audio")
    found = read_corpus("labels", tmp_path, options)
    caption = found.rows[0].text
    assert "electric guitar, guitar and music" in caption and found.rows[0].domain == "sound"
    assert any(caption == t.format(labels="electric guitar, guitar and music") for t in CAPTION_TEMPLATES)
    assert label_caption(["Dog"], 0, "k") == label_caption(["Dog"], 0, "k")  # seeded, reproducible
    assert len({label_caption(["Dog"], seed, "k") for seed in range(40)}) > 1


def test_prepare_writes_shards_and_a_data_list_and_info_reads_them(tmp_path: Path, run_cli) -> None:
    chapter = tmp_path / "LibriSpeech" / "dev-clean" / "84" / "121123"
    for utt in range(3):
        clip(chapter / f"84-121123-{utt:04d}.flac", seconds=0.5)
    write(chapter / "84-121123.trans.txt", "".join(f"84-121123-{u:04d} WORD {u}\n" for u in range(3)))
    out = tmp_path / "prepared"
    code, _, err = run_cli("data", "prepare", "librispeech", "--from", tmp_path / "LibriSpeech", "--out", out,
                           "--shard-size", "2", "--workers", "2")
    assert code == 0, err
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 3
    assert sorted(p.name for p in out.glob("*.tar")) == ["speech-000000.tar", "speech-000001.tar"]
    code, stdout, _ = run_cli("data", "info", out)
    assert code == 0 and "3 clips" in stdout and "speech" in stdout
    code, stdout, _ = run_cli("data", "info", out, "--json")
    info = json.loads(stdout)
    assert info["domains"]["speech"]["clips"] == 3 and info["hours"] == pytest.approx(1.5 / 3600, abs=1e-4)
    code, _, err = run_cli("data", "prepare", "clotho", "--from", tmp_path / "LibriSpeech", "--out", tmp_path / "c")
    assert code == 2 and "not in the clotho layout" in err and len(err.strip().splitlines()) == 1
