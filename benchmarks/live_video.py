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
per-frame answers are computed once per clip and kept (``--answers``, a pickle keyed by the
model's weights, detector and passes), so decoder settings
can be replayed in seconds (``--hold``, ``--min-confidence`` as in ``live``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from collections import Counter
from pathlib import Path

from common import HAND_MODEL, SHARED, model_fingerprint

VIDEOS = SHARED / "data" / "videos"
# Clips that run on into the next letter (checked frame by frame): the W clip's last 0.6 s
# shows the signer's X, at the model's 0.9+; spelling it is right, so it is not an insertion.
SIGNED = {"letters/W.mp4": "WX"}
ANSWERS = (Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fingerspell"
           / "benchmarks" / "live_video_answers.pkl")


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


def cached_answers(model, name: str, path: Path, detector: str, passes: int | None) -> list:
    """(letter, clip, answers, fps, ms per frame) for every clip: read from ``path`` when it was
    recorded for the same model, detector and passes, else computed and written there."""
    key = {"model": name, "weights": model_fingerprint(model), "detector": detector,
           "passes": passes, "clips": [str(clip) for _, clip in clips()]}
    if path.is_file():
        saved = pickle.loads(path.read_bytes())  # written by this script, on this machine
        if saved["key"] == key:
            return saved["recorded"]
    recorded = []
    for letter, clip in clips():
        answers, fps, costs = frame_answers(model, clip, detector, passes)
        recorded.append((letter, clip, answers, fps, costs))
        print(f"  {clip.parent.name}/{clip.name}: {len(answers)} frames, {fps:.1f} fps",
              flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_bytes(pickle.dumps({"key": key, "recorded": recorded}))
    temp.replace(path)
    return recorded


def frame_costs(recorded: list) -> dict:
    """Median milliseconds per frame with and without a hand found, over every clip."""
    import numpy as np
    found = [(p.hand is not None, ms) for _, _, answers, _, costs in recorded
             for (_, p), ms in zip(answers, costs, strict=True)]
    return {f"ms_per_frame_{name}": round(float(np.median(picked)), 1) if picked else None
            for name, picked in (("with_hand", [ms for hit, ms in found if hit]),
                                 ("without_hand", [ms for hit, ms in found if not hit]))}


def replay(session, answers: list, settings) -> tuple[str, list[tuple[float, str, str]]]:
    """The decoder over precomputed answers (``session``: a ``LiveSession``, restarted here):
    the text and (time, event, letter) per event; letters the motion tracker recognised are
    events ``motion``."""
    session.restart(settings)
    events = []
    for t, prediction in answers:
        result = session.feed(t, prediction)
        if result.motion:
            events.append((t, "motion", result.motion))
        for event in result.events:
            events.append((event.t, event.event, event.letter or ""))
    return session.text, events


def signed(letter: str, clip: Path) -> str:
    """What the person signs in ``clip``: its letter, unless the clip runs on into the next."""
    return SIGNED.get(f"{clip.parent.name}/{clip.name}", letter)


def spurious_first(intended: str, spelled: str) -> bool:
    """Whether the text starts with a letter that was not signed: without it, the text is
    closer to the intended one."""
    from fingerspell.evaluation.metrics import text_edits
    return bool(spelled) and (text_edits(intended, spelled[1:])["edits"]
                              < text_edits(intended, spelled)["edits"])


def score(letter: str, intended: str, text: str, events: list, answers: list, fps: float
          ) -> dict:
    from fingerspell.evaluation.metrics import text_edits
    # what the user is left with: a letter taken back (the I a J starts from) does not count
    committed = Counter(ch for ch in text if ch != " ")
    edits = text_edits(intended, text.strip())
    first = next((round(e[0], 2) for e in events if e[1] == "letter" and e[2] == letter), None)
    found = sum(p.hand is not None for _, p in answers) / max(1, len(answers))
    return {"letter": letter, "signed": intended, "text": text,
            "exact": text.strip() == intended, **edits,
            "committed": committed.get(letter, 0) > 0,
            "most_committed": bool(committed) and committed.most_common(1)[0][0] == letter
            and list(committed.values()).count(committed[letter]) == 1,
            "false_commits": sum(n for k, n in committed.items() if k not in intended),
            "false_repeats": max(0, committed.get(letter, 0) - 1),
            "from_motion": any(e[1] == "motion" and e[2] == letter for e in events),
            "taken_back": sum(e[1] == "delete" for e in events),
            # a letter before the signed one (as the hand moved into place)
            "spurious_first": spurious_first(intended, text.strip()),
            "false_motion": sum(e[1] == "motion" and e[2] != letter for e in events),
            "first_commit_s": first, "frames": len(answers), "fps": round(fps, 1),
            "hand_found": round(found, 3)}


def summarize(rows: list[dict]) -> dict:
    firsts = sorted(r["first_commit_s"] for r in rows if r["first_commit_s"] is not None)
    return {"clips": len(rows),
            # the text is exactly what was signed; character error rate: edits per signed
            # character, over all clips
            "exact_text": sum(r["exact"] for r in rows),
            "character_error_rate": round(sum(r["edits"] for r in rows)
                                          / sum(len(r["signed"]) for r in rows), 3),
            "edits_per_clip": round(sum(r["edits"] for r in rows) / len(rows), 3),
            "insertions": sum(r["insertions"] for r in rows),
            "deletions": sum(r["deletions"] for r in rows),
            "substitutions": sum(r["substitutions"] for r in rows),
            "first_commit_s_median": firsts[len(firsts) // 2] if firsts else None,
            "most_committed": sum(r["most_committed"] for r in rows),
            "committed": sum(r["committed"] for r in rows),
            "false_commits": sum(r["false_commits"] for r in rows),
            "false_repeats": sum(r["false_repeats"] for r in rows),
            "spurious_first": sum(r["spurious_first"] for r in rows),
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
    parser.add_argument("--answers", type=Path, default=ANSWERS,
                        help="where the per-frame answers are kept between runs")
    args = parser.parse_args()
    if not (VIDEOS / "letters").is_dir() or not HAND_MODEL.is_file():
        sys.exit(f"needs the shared letter videos and hand model under {SHARED}")
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
    recorded = cached_answers(model, args.model, args.answers, args.detector, passes)
    from fingerspell.live.stream import LiveSession
    session = LiveSession(model, settings)
    rows = []
    for letter, clip, answers, fps, _ in recorded:
        text, events = replay(session, answers, settings)
        row = {"clip": f"{clip.parent.name}/{clip.name}",
               **score(letter, signed(letter, clip), text, events, answers, fps)}
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
        output["sweep"] = sweep(session, recorded, settings)
    session.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(output, indent=2) + "\n")


# decoder settings tried by --sweep (every combination); the first value of each is today's
SWEEP = {"settled_speed": (3.0, 2.0, 5.0, 1e9),
         "settle_seconds": (0.25, 0.15),
         "still_seconds": (0.5, 0.0, 0.4, 0.6),
         "still_min_confidence": (0.25, 0.3),
         "switch_margin": (0.2, 0.0),
         "quick_seconds": (0.2, 0.3, 0.0),
         "quick_min_confidence": (0.7, 0.8)}


def sweep(session, recorded: list, settings) -> list[dict]:
    """Each combination of SWEEP replayed on the recorded answers, scored per half of the clips
    (clips 0, 2, 4, ... choose; 1, 3, 5, ... report), best on the choosing half first."""
    import itertools
    from dataclasses import replace
    out = []
    for values in itertools.product(*SWEEP.values()):
        chosen = dict(zip(SWEEP, values, strict=True))
        candidate = replace(settings, **chosen)
        rows = [{"clip": clip.name, **score(letter, signed(letter, clip),
                                            *replay(session, answers, candidate), answers, fps)}
                for letter, clip, answers, fps, _ in recorded]
        halves = [summarize(rows[half::2]) for half in (0, 1)]
        out.append({**chosen, "all": summarize(rows), "choosing_half": halves[0],
                    "reported_half": halves[1]})
    out.sort(key=lambda row: (row["choosing_half"]["edits_per_clip"],
                              row["choosing_half"]["first_commit_s_median"] or 99))
    for row in out[:10]:
        choose, report = row["choosing_half"], row["reported_half"]
        print(" ".join(f"{k} {row[k]}" for k in SWEEP)
              + f": choose {choose['exact_text']}/{choose['clips']} exact, "
              f"{choose['edits_per_clip']} edits/clip | report {report['exact_text']}/"
              f"{report['clips']}, {report['edits_per_clip']}", flush=True)
    return out


if __name__ == "__main__":
    sys.exit(main())
