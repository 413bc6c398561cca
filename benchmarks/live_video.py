"""The live path on real recordings: which letters a person signing one letter per clip gets.

Usage: python benchmarks/live_video.py [--model asl-alphabet] [--detector image|video]
                                       [--passes-per-frame N|all|live]
                                       [--hold S] [--min-confidence P] [--long-hold S] [--sweep]
                                       [--out benchmarks/results/live_video.json]

Clips: ``../shared/data/videos/letters/<L>.mp4`` (one person, one letter each) and
``../shared/data/videos/jz/`` (J and Z by another person at a webcam). Each clip runs through
``LiveSession`` exactly as ``fingerspell live --video`` does; per clip: the committed text,
whether the clip's letter was committed and is the most committed letter, false commits (any
other letter), false repeats (the clip's letter more than once: every clip holds one letter
once) — all counted in the text the clip leaves, so a letter taken back by a J or Z motion does
not count (``taken_back`` counts them) — whether J and Z came from the motion tracker, motion
letters fired on the other clips, the time to the first commit of the right letter, and frames
per second. The model's
per-frame answers are computed once per clip, so decoder settings can be replayed cheaply
(``--hold``, ``--min-confidence`` as in ``live``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

from common import HAND_MODEL, SHARED

VIDEOS = SHARED / "data" / "videos"


def clips() -> list[tuple[str, Path]]:
    """(the letter signed, clip) for every shared recording."""
    found = [(p.stem.upper(), p) for p in sorted((VIDEOS / "letters").glob("*.mp4"))]
    found += [(p.stem.split("_")[0].upper(), p) for p in sorted((VIDEOS / "jz").glob("*.mp4"))]
    return found


def frame_answers(model, clip: Path, detector: str, passes_per_frame: int | None
                  ) -> tuple[list, float, list[float]]:
    """The model's answer for every frame of ``clip``, the frames per second it ran at and
    the milliseconds each frame took (detection, features and heads)."""
    from fingerspell.live.stream import frames_from
    session_detector = model.detector(video=detector == "video",
                                      passes_per_frame=passes_per_frame)
    answers, costs, started = [], [], time.perf_counter()
    try:
        for t, frame in frames_from(video=str(clip)):
            before = time.perf_counter()
            answers.append((t, model.predict_images([frame], detector=session_detector,
                                                    timestamp=t)[0]))
            costs.append(1000 * (time.perf_counter() - before))
    finally:
        session_detector.close()
    return answers, len(answers) / max(time.perf_counter() - started, 1e-9), costs


def frame_costs(recorded: list) -> dict:
    """Median milliseconds per frame with and without a hand found, over every clip."""
    import numpy as np
    found = [(p.hand is not None, ms) for _, _, answers, _, costs in recorded
             for (_, p), ms in zip(answers, costs, strict=True)]
    return {f"ms_per_frame_{name}": round(float(np.median(picked)), 1) if picked else None
            for name, picked in (("with_hand", [ms for hit, ms in found if hit]),
                                 ("without_hand", [ms for hit, ms in found if not hit]))}


def replay(model, answers: list, settings) -> tuple[str, list[tuple[float, str, str]]]:
    """The decoder over precomputed answers: the text and (time, event, letter) per event;
    letters the motion tracker recognised are events ``motion``."""
    from fingerspell.live.stream import LiveSession
    session = LiveSession(model, settings)
    try:
        events = []
        for t, prediction in answers:
            result = session.feed(t, prediction)
            if result.motion:
                events.append((t, "motion", result.motion))
            for event in result.events:
                events.append((event.t, event.event, event.letter or ""))
        return session.text, events
    finally:
        session.close()


def score(letter: str, text: str, events: list, answers: list, fps: float) -> dict:
    from fingerspell.evaluation.metrics import text_edits
    # what the user is left with: a letter taken back (the I a J starts from) does not count
    committed = Counter(ch for ch in text if ch != " ")
    edits = text_edits(letter, text.strip())
    first = next((round(e[0], 2) for e in events if e[1] == "letter" and e[2] == letter), None)
    found = sum(p.hand is not None for _, p in answers) / max(1, len(answers))
    return {"letter": letter, "text": text, "exact": text.strip() == letter, **edits,
            "committed": committed.get(letter, 0) > 0,
            "most_committed": bool(committed) and committed.most_common(1)[0][0] == letter
            and list(committed.values()).count(committed[letter]) == 1,
            "false_commits": sum(n for k, n in committed.items() if k != letter),
            "false_repeats": max(0, committed.get(letter, 0) - 1),
            "from_motion": any(e[1] == "motion" and e[2] == letter for e in events),
            "taken_back": sum(e[1] == "delete" for e in events),
            "false_motion": sum(e[1] == "motion" and e[2] != letter for e in events),
            "first_commit_s": first, "frames": len(answers), "fps": round(fps, 1),
            "hand_found": round(found, 3)}


def summarize(rows: list[dict]) -> dict:
    firsts = sorted(r["first_commit_s"] for r in rows if r["first_commit_s"] is not None)
    return {"clips": len(rows),
            # the text is exactly what was signed; character error rate: edits per intended
            # character (one per letter clip), over all clips
            "exact_text": sum(r["exact"] for r in rows),
            "character_error_rate": round(sum(r["edits"] for r in rows) / len(rows), 3),
            "insertions": sum(r["insertions"] for r in rows),
            "deletions": sum(r["deletions"] for r in rows),
            "substitutions": sum(r["substitutions"] for r in rows),
            "first_commit_s_median": firsts[len(firsts) // 2] if firsts else None,
            "most_committed": sum(r["most_committed"] for r in rows),
            "committed": sum(r["committed"] for r in rows),
            "false_commits": sum(r["false_commits"] for r in rows),
            "false_repeats": sum(r["false_repeats"] for r in rows),
            "jz_from_motion": [r["clip"] for r in rows if r["letter"] in ("J", "Z")
                               and r["committed"] and r["from_motion"]],
            "motion_letters_elsewhere": sum(r["false_motion"] for r in rows),
            "fps_median": sorted(r["fps"] for r in rows)[len(rows) // 2],
            "hand_found_mean": round(sum(r["hand_found"] for r in rows) / len(rows), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="asl-alphabet")
    parser.add_argument("--detector", choices=("image", "video"), default="image")
    parser.add_argument("--passes-per-frame", default="live",
                        help="detection passes per frame: a number, 'all' (the whole ladder, "
                             "as for a photo) or 'live' (what live and the stream use)")
    parser.add_argument("--hold", type=float, default=None)
    parser.add_argument("--min-confidence", type=float, default=None)
    parser.add_argument("--long-hold", type=float, default=None)
    parser.add_argument("--sweep", action="store_true",
                        help="also replay the long-hold candidates (SWEEP) on the same answers, "
                             "scored on each half of the clips (every other one): choose on the "
                             "first, report the second")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/live_video.json"))
    args = parser.parse_args()
    if not (VIDEOS / "letters").is_dir() or not HAND_MODEL.is_file():
        sys.exit(f"needs the shared letter videos and hand model under {SHARED}")
    import os
    os.environ.setdefault("FINGERSPELL_HAND_MODEL", str(HAND_MODEL))
    from fingerspell import Model
    from fingerspell.live.decoder import DecoderSettings
    settings = DecoderSettings(**{k: v for k, v in (("hold_seconds", args.hold),
                                                    ("min_confidence", args.min_confidence),
                                                    ("long_hold_seconds", args.long_hold))
                                  if v is not None})
    from fingerspell.live.stream import PASSES_PER_FRAME
    passes = (PASSES_PER_FRAME if args.passes_per_frame == "live"
              else None if args.passes_per_frame == "all" else int(args.passes_per_frame))
    model = Model.load(args.model)
    rows, recorded = [], []
    for letter, clip in clips():
        answers, fps, costs = frame_answers(model, clip, args.detector, passes)
        recorded.append((letter, clip, answers, fps, costs))
        text, events = replay(model, answers, settings)
        row = {"clip": f"{clip.parent.name}/{clip.name}",
               **score(letter, text, events, answers, fps)}
        rows.append(row)
        closeness = "exact" if row["exact"] else f"{row['edits']} edits"
        print(f"{row['clip']:<18} {letter:<2} text {text!r:<10} {closeness:<8} "
              f"{'ok ' if row['most_committed'] else '-- '} false {row['false_commits']} "
              f"repeats {row['false_repeats']} hand {row['hand_found']:.0%} {fps:.1f} fps",
              flush=True)
    summary = {**summarize(rows), **frame_costs(recorded)}
    print(json.dumps(summary))
    output = {"model": args.model, "detector": args.detector, "passes_per_frame": passes,
              "settings": settings.__dict__, "summary": summary, "clips": rows}
    if args.sweep:
        output["sweep"] = sweep(model, recorded, settings)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(output, indent=2) + "\n")


# long hold (seconds, min confidence, stability) candidates; (0, 0, 0): none
SWEEP = ((0.0, 0.0, 0.0), (0.75, 0.25, 0.9), (0.8, 0.2, 0.8), (1.0, 0.15, 0.8), (1.0, 0.2, 0.8),
         (1.0, 0.2, 0.9), (1.0, 0.25, 0.8), (1.5, 0.2, 0.8))


def sweep(model, recorded: list, settings) -> list[dict]:
    """Each long-hold candidate replayed on the recorded answers, scored per half of the clips
    (clips 0, 2, 4, ... choose; 1, 3, 5, ... report)."""
    from dataclasses import replace
    out = []
    for seconds, confidence, stability in SWEEP:
        candidate = replace(settings, long_hold_seconds=seconds,
                            long_hold_min_confidence=confidence, long_hold_stability=stability)
        rows = [{"clip": clip.name, **score(letter, *replay(model, answers, candidate), answers,
                                            fps)}
                for letter, clip, answers, fps, _ in recorded]
        halves = [summarize(rows[half::2]) for half in (0, 1)]
        out.append({"long_hold_seconds": seconds, "long_hold_min_confidence": confidence,
                    "long_hold_stability": stability, "all": summarize(rows),
                    "choosing_half": halves[0], "reported_half": halves[1]})
        print(f"long hold {seconds} s at {confidence}, {stability:.0%}: "
              + " | ".join(f"{name} {h['most_committed']} of {h['clips']}, "
                           f"{h['false_commits']} false"
                           for name, h in (("choose", halves[0]), ("report", halves[1]))),
              flush=True)
    return out


if __name__ == "__main__":
    sys.exit(main())
