"""``fingerspell live`` on a folder of frames and on a video file, and its errors."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
from PIL import Image

from .conftest import run_cli


def held_letters(shared_train: Path, word: str, frames_each: int = 12) -> list[Image.Image]:
    frames = []
    for letter in word:
        photo = Image.open(shared_train / letter / f"{letter}305.jpg").convert("RGB")
        frames += [photo] * frames_each  # held still for 0.8 s at 15 frames/s
        frames += [Image.new("RGB", photo.size, (40, 40, 40))] * 6  # hand down: a pause
    return frames


def test_live_spells_a_folder_of_frames(mode_runs: dict[str, Path], shared_train: Path,
                                        tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(held_letters(shared_train, "CALL")):
        frame.save(folder / f"frame{index}.jpg")  # natural order: frame10 after frame9
    (folder / "frame999.jpg").write_bytes(b"broken")  # a bad frame is skipped
    model = str(mode_runs["fusion"] / "model")
    result = run_cli("live", model, "--frames", str(folder), "--fps", "15")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "text: CALL"
    result = run_cli("live", model, "--frames", str(folder), "--fps", "15", "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e.get("letter") for e in events[:-1]] == ["C", "A", "L", "L"]
    assert events[-1]["event"] == "end" and events[-1]["text"] == "CALL"
    assert all(a["t"] < b["t"] for a, b in itertools.pairwise(events))


def test_live_reads_a_video(mode_runs: dict[str, Path], shared_train: Path,
                            tmp_path: Path) -> None:
    import cv2
    video = tmp_path / "clip.avi"
    frames = held_letters(shared_train, "BY")
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, frames[0].size)
    for frame in frames:
        writer.write(cv2.cvtColor(np.asarray(frame), cv2.COLOR_RGB2BGR))
    writer.release()
    result = run_cli("live", str(mode_runs["fusion"] / "model"), "--video", str(video))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "text: BY"


def test_live_errors(mode_runs: dict[str, Path], tmp_path: Path) -> None:
    model = str(mode_runs["fusion"] / "model")
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    for args, message in ((["--video", str(tmp_path / "missing.mp4")], "does not exist"),
                          (["--video", str(not_video)], "not a readable video"),
                          (["--camera", "57"], "camera 57 cannot be opened"),
                          (["--frames", str(tmp_path)], "no images in this folder")):
        result = run_cli("live", model, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_live_annotates_a_video(mode_runs: dict[str, Path], shared_train: Path,
                                tmp_path: Path) -> None:
    import cv2
    folder = tmp_path / "frames"
    folder.mkdir()
    frames = held_letters(shared_train, "CA")
    for index, frame in enumerate(frames):
        frame.save(folder / f"frame{index}.jpg")
    out = tmp_path / "annotated.mp4"
    model = str(mode_runs["fusion"] / "model")
    result = run_cli("live", model, "--frames", str(folder), "--annotate", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "text: CA"
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == len(frames)
    assert capture.get(cv2.CAP_PROP_FPS) == 15
    capture.set(cv2.CAP_PROP_POS_FRAMES, len(frames) - 1)
    ok, last = capture.read()
    capture.release()
    assert ok
    height = last.shape[0]
    original = cv2.cvtColor(np.asarray(frames[-1]), cv2.COLOR_RGB2BGR).astype(int)
    # the text bar is drawn over the bottom of the frame, the rest is the input
    assert last[height - 5:, :].mean() < original[height - 5:, :].mean() - 20
    assert np.abs(last[: height // 3].astype(int) - original[: height // 3]).mean() < 40
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.mp4", "frames"]
    again = run_cli("live", model, "--frames", str(folder), "--annotate", str(out))
    assert again.returncode == 2 and "exists" in again.stderr  # nothing is overwritten


def test_live_completes_words_from_a_list(mode_runs: dict[str, Path], shared_train: Path,
                                          tmp_path: Path) -> None:
    """--words: the finished word becomes the nearest listed one (CAL -> CALL at the end of
    the stream); a missing or empty list is a one-line error before the model loads."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(held_letters(shared_train, "CAL")):
        frame.save(folder / f"frame{index}.jpg")
    words = tmp_path / "words.txt"
    words.write_text("# lesson 3\nhello\ncall\n")
    model = str(mode_runs["fusion"] / "model")
    plain = run_cli("live", model, "--frames", str(folder), "--fps", "15")
    assert plain.returncode == 0 and plain.stdout.strip().splitlines()[-1] == "text: CAL"
    result = run_cli("live", model, "--frames", str(folder), "--fps", "15", "--words",
                     str(words), "--json")
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[-2] == {"t": events[-2]["t"], "event": "word", "letter": "CALL",
                          "text": "CALL "}
    assert events[-1]["text"] == "CALL "
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    for path, message in ((tmp_path / "missing.txt", "word list does not exist"),
                          (empty, "no words in this list")):
        result = run_cli("live", model, "--frames", str(folder), "--words", str(path))
        assert result.returncode == 2, result.stderr
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
