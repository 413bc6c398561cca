"""The on-device page (``fingerspell export MODEL --format web``) against Python, in headless
Chromium on this machine: size, load time, frames per second, and agreement.

Usage: python benchmarks/web_page.py [--model asl-alphabet] [--per-class 4] [--int8 DIR]
                                     [--out benchmarks/results/web_page.json]

- the site's size by part, and how long the export takes;
- load time: the page opened until its model is ready (a new browser: nothing cached);
- every shared letter clip (videos/letters), frame by frame as ``live`` sees it (the page
  replays lossless copies of the frames): whether each side found a hand, the top letter on
  frames where both did, each clip's spelled text, and the page's time per frame (its frames
  per second: headless Chromium renders in software here, so this is a floor);
- Teach's Adapt in the page (adapt.js) on 5 and 30 examples (frames of the clips);
- shared photos, as ``predict`` answers them (the whole ladder of detection passes): the Kaggle
  test photos and ``--per-class`` photos per letter of each source the built-in never saw:
  accuracy in the page and in Python, and how often the two agree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common import SHARED, SOURCES, require_shared

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import (
    RECOGNIZE_PHOTOS,
    REPLAY_CLIPS,
    chromium,
    live_answers,
    open_site,
    served,
)
from fingerspell.infer import Model
from fingerspell.live.stream import frames_from

UNSEEN = ("multi_signer", "mon95", "surrey_user_a")  # sources the built-in never learnt from


def site_size(site: Path) -> dict[str, float]:
    parts = {"MediaPipe (vendor/tasks-vision)": "vendor/tasks-vision",
             "ONNX Runtime Web (vendor/onnxruntime-web)": "vendor/onnxruntime-web",
             "crop graph (crop.onnx)": "crop.onnx", "hand model": "hand_landmarker.task",
             "model.json (both heads, settings)": "model.json"}
    sizes = {}
    for name, part in parts.items():
        path = site / part
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        sizes[name] = round(sum(p.stat().st_size for p in files) / 1e6, 2)
    sizes["total"] = round(sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6, 2)
    sizes["the rest (page, scripts, notice)"] = round(sizes["total"] - sum(
        v for k, v in sizes.items() if k != "total"), 2)
    return sizes


def clip_rows(model: Model, site: Path, browser, url: str) -> dict:
    videos = SHARED / "data" / "videos" / "letters"
    clips, expected, letters = [], [], []
    for clip in sorted(videos.glob("*.mp4")):
        frames = list(frames_from(video=clip))
        folder = site / "frames" / clip.stem
        folder.mkdir(parents=True)
        for i, (_, frame) in enumerate(frames):
            frame.save(folder / f"{i:04d}.png")
        clips.append({"frames": [[t, f"./frames/{clip.stem}/{i:04d}.png"]
                                 for i, (t, _) in enumerate(frames)]})
        started = time.perf_counter()
        expected.append((*live_answers(model, frames), time.perf_counter() - started))
        letters.append(clip.stem)
    page = open_site(browser, url)
    got = page.evaluate(REPLAY_CLIPS, clips)
    rows, both, agree, hands_same, total, ms = [], 0, 0, 0, 0, []
    python_seconds = 0.0
    for letter, (answers, text, seconds), page_clip in zip(letters, expected, got, strict=True):
        python_seconds += seconds
        clip_both = clip_agree = 0
        for want, have in zip(answers, page_clip["frames"], strict=True):
            total += 1
            ms.append(have["ms"])
            hands_same += (want.hand is not None) == have["hand"]
            if want.hand is not None and have["hand"]:
                clip_both += 1
                clip_agree += want.label == have["label"]
        both, agree = both + clip_both, agree + clip_agree
        rows.append({"clip": letter, "frames": len(answers), "both_found_hand": clip_both,
                     "top1_agree": clip_agree, "python_text": text, "page_text": page_clip["text"]})
    return {"clips": rows, "frames": total, "hand_found_same": hands_same,
            "both_found_hand": both, "top1_agree": agree,
            "top1_agreement": round(agree / max(1, both), 4),
            "texts_same": sum(r["python_text"] == r["page_text"] for r in rows),
            "texts_exact": sum(r["page_text"] == r["clip"] for r in rows),
            "page_ms_per_frame_median": round(statistics.median(ms), 1),
            "page_frames_per_second": round(1000 / statistics.median(ms), 2),
            "python_frames_per_second": round(total / python_seconds, 2)}


ADAPT_TIMES = """async ([urls, counts]) => {
  const { adaptHeads } = await import("./adapt.js");
  const r = window.fingerspell.recognizer;
  const examples = [];
  for (const url of urls) {
    const bitmap = await createImageBitmap(await (await fetch(url)).blob());
    const a = await r.recognize(bitmap);
    bitmap.close();
    if (a.features) examples.push({...a.features, label: r.classes.indexOf(a.label)});
  }
  return counts.map((n) => {
    const started = performance.now();
    adaptHeads(r.config, examples.slice(0, n));
    return [Math.min(n, examples.length), (performance.now() - started) / 1000];
  });
}"""


def adapt_times(site: Path, browser, url: str) -> dict[str, float]:
    """Seconds Teach's Adapt takes in the page for 5 examples (one hold) and 30 (six holds)."""
    page = open_site(browser, url)
    frames = sorted((site / "frames").glob("*/*.png"))[::7][:30]
    times = page.evaluate(ADAPT_TIMES, [[f"./frames/{p.parent.name}/{p.name}" for p in frames],
                                        [5, 30]])
    return {f"{n} examples": round(seconds, 2) for n, seconds in times}


def photo_rows(model: Model, site: Path, browser, url: str, per_class: int) -> dict:
    sets = {"kaggle_test": sorted((SHARED / "data" / "asl_alphabet" / "test").glob("*.jpg"))}
    for name in UNSEEN:
        sets[name] = [p for folder in sorted(SOURCES[name].iterdir()) if folder.is_dir()
                      for p in sorted(folder.iterdir())[:per_class]]
    page = open_site(browser, url)
    out = {}
    for name, photos in sets.items():
        folder = site / "photos" / name
        folder.mkdir(parents=True)
        urls = []
        for i, photo in enumerate(photos):
            shutil.copyfile(photo, folder / f"{i:04d}{photo.suffix}")
            urls.append(f"./photos/{name}/{i:04d}{photo.suffix}")
        truth = [p.stem.split("_")[0] if name == "kaggle_test" else p.parent.name for p in photos]
        expected = model.predict(photos)
        assert not expected.failed
        got = page.evaluate(RECOGNIZE_PHOTOS, urls)
        gaps = [float(np.abs(np.asarray(h["probs"]) - w.probs).max())
                for w, h in zip(expected, got, strict=True)]
        out[name] = {
            "photos": len(photos),
            "python_accuracy": round(float(np.mean([w.label == t for w, t in
                                                    zip(expected, truth, strict=True)])), 4),
            "page_accuracy": round(float(np.mean([h["label"] == t for h, t in
                                                  zip(got, truth, strict=True)])), 4),
            "agreement": round(float(np.mean([w.label == h["label"] for w, h in
                                              zip(expected, got, strict=True)])), 4),
            "same_route": round(float(np.mean([w.route == h["route"] for w, h in
                                               zip(expected, got, strict=True)])), 4),
            "median_max_probability_gap": round(statistics.median(gaps), 4)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="asl-alphabet")
    parser.add_argument("--per-class", type=int, default=4)
    parser.add_argument("--int8", type=Path, default=None, metavar="DIR",
                        help="export the crop graph in int8, calibrated and checked on DIR's photos")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/web_page.json"))
    args = parser.parse_args()
    require_shared()
    model = Model.load(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        started = time.perf_counter()
        model.export("web", out=site, int8=args.int8 is not None, calibration=args.int8)
        export_s = time.perf_counter() - started
        sizes = site_size(site)
        crop_record = json.loads((site / "model.json").read_text())["crop"]  # int8's agreement
        with served(site) as url, chromium() as browser:
            started = time.perf_counter()
            page = open_site(browser, url)
            load = {"open_to_ready_s": round(time.perf_counter() - started, 2),
                    "page_reported_s": round(page.evaluate("window.fingerspell.loadSeconds"), 2)}
            page.close()
            clips = clip_rows(model, site, browser, url)
            teach = adapt_times(site, browser, url)
            photos = photo_rows(model, site, browser, url, args.per_class)
    result = {"model": args.model, "export_s": round(export_s, 1), "size_mb": sizes,
              "crop_graph": crop_record,
              "load": load, "clips": clips, "photos": photos, "teach_adapt_s": teach,
              "machine": "2 cores, no GPU; headless Chromium (Debian), software rendering"}
    print(f"site {sizes['total']} MB (export {export_s:.0f} s); ready in "
          f"{load['open_to_ready_s']} s")
    print(f"clips: {clips['frames']} frames, hand found alike on {clips['hand_found_same']}; "
          f"top-1 agrees on {clips['top1_agree']} of {clips['both_found_hand']} "
          f"({clips['top1_agreement']:.1%}); texts the same {clips['texts_same']} of "
          f"{len(clips['clips'])}; page {clips['page_frames_per_second']} frames/s, "
          f"Python {clips['python_frames_per_second']}")
    print(f"Teach's Adapt in the page: {teach}")
    for name, row in photos.items():
        print(f"{name:<14}{row['photos']:>4} photos  page {row['page_accuracy']:.1%}  "
              f"Python {row['python_accuracy']:.1%}  agree {row['agreement']:.1%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
