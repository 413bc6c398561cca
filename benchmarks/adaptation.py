"""Adapting a model to one person: accuracy on that person against photos per letter given.

Usage: python benchmarks/adaptation.py [--shots 0,1,2,3,5,10] [--select] [--previous]
                                       [--out benchmarks/results/adaptation.json] [--bases FILE]

For each multi-person shared source (mon95: 3 people; webcam_mit: 5; multi_signer: 21; asl_hg:
7), the base model is fingerspell's default recipe trained on every *other* shared source (it
never saw the source, so never the person). Then, for each person of the source and each number of photos per
letter k, k photos per letter of that person (the first k of a fixed random order, so the sets
are nested) adapt the head as ``fingerspell adapt`` does (``head.adaptation.adapt_head``), and the
adapted head is scored on that person's remaining photos (the same test photos for every k: those
not among the largest k's examples) and on every other person of the source (adapting to one
person must not break the others). k is capped per source by the photos each person has per
letter (multi_signer: about 3). Each k is also run the way Teach is used: k photos of only the
letters the base reads wrong on most of those k photos, scored on the same test photos of every
letter (a head that learns "this person's hand is T" shows up there, not with every letter).

``--select`` first compares adaptation settings on mon95 only (the selection source): the pull,
how it grows as fewer letters are shown, and the landmark weight a fusion moves towards; it
keeps the best mean accuracy for the person at 1 and 2 photos per letter (issue 22's targets),
with every letter and with the wrong ones only, ties to everyone else. ``--previous`` also
measures adapting as it was before (a fixed pull of 0.001, the base's landmark weight).
webcam_mit, multi_signer and asl_hg are then the figures reported, not chosen on. Without it,
the package's AdaptSettings are measured as they are.

The four bases take about 12 minutes each on 2 cores (the landmark weight is chosen on folds of
the other sources, as ``train`` does); they are kept in ``--bases`` (default
``~/.cache/fingerspell/benchmarks/adaptation_bases.pt``) with a digest of the features, labels
and seed they were fitted on, and fitted again when that changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from common import SOURCES, fit_heads, pooled_features
from fingerspell.features.feature_mode import get_mode
from fingerspell.head.adaptation import AdaptSettings, adapt_head
from fingerspell.training.fitting import Examples

PEOPLE_SOURCES = ("mon95", "webcam_mit", "multi_signer", "asl_hg")
SELECTION = "mon95"
SELECTION_SHOTS = (1, 2)
# (a cap of 0.4 was dropped while exploring: it cost webcam_mit's other people 3 points)
CANDIDATES = [AdaptSettings(steps=300, lr=0.01, pull=p, coverage_power=c, landmark_weight=w)
              for p in (0.001, 0.005, 0.01, 0.02) for c in (1.0, 2.0) for w in (None, 0.5)]
# adapt as it was before coverage counted (a fixed pull, the base's landmark weight): --previous
PREVIOUS = AdaptSettings(pull=0.001, coverage_power=0.0, landmark_weight=None)
BASES = Path.home() / ".cache" / "fingerspell" / "benchmarks" / "adaptation_bases.pt"


def accuracy(head: torch.nn.Module, vectors: np.ndarray, labels: np.ndarray) -> float:
    if len(labels) == 0:
        return float("nan")
    return float((predict(head, vectors) == labels).mean())


def person_rows(samples: list, rows: list[int], labels: np.ndarray, seed: int
                ) -> tuple[dict[int, list[int]], int]:
    """Per letter, the person's rows in a fixed random order; and the largest usable k."""
    rng = np.random.default_rng(seed)
    per_letter: dict[int, list[int]] = {}
    for i in rows:
        per_letter.setdefault(int(labels[i]), []).append(i)
    for letter in per_letter:
        order = rng.permutation(len(per_letter[letter]))
        per_letter[letter] = [per_letter[letter][j] for j in order]
    return per_letter, min(len(v) for v in per_letter.values()) - 1


def run_source(name: str, base: torch.nn.Module, examples: Examples, images, usable: np.ndarray,
               shots: list[int], settings: AdaptSettings, seed: int) -> dict:
    """Per person and k, two ways of adapting: ``all`` letters (k photos of each), and
    ``wrong`` letters only (Teach's way: k photos of each letter the base reads wrong on most of
    those k photos); both scored on the same test photos of every letter."""
    k_source = list(examples.sources == list(SOURCES).index(name))
    rows = [i for i in range(len(usable)) if k_source[i] and usable[i]]
    people = sorted({images.samples[i].signer for i in rows})
    labels = examples.labels
    base_reads = predict(base, examples.vectors[rows])
    read = dict(zip(rows, base_reads.tolist(), strict=True))
    per_person = []
    for person in people:
        mine = [i for i in rows if images.samples[i].signer == person]
        others = [i for i in rows if images.samples[i].signer != person]
        per_letter, k_max = person_rows(images.samples, mine, labels, seed)
        ks = [k for k in shots if k <= k_max]
        largest = max(ks)
        test = [i for v in per_letter.values() for i in v[largest:]]
        before_others = accuracy(base, examples.vectors[others], labels[others])
        row = {"person": person, "test_photos": len(test), "by_k": {}, "wrong_letters": {}}
        for k in ks:
            given = [i for v in per_letter.values() for i in v[:k]]
            wrong = [i for letter, v in per_letter.items()
                     if 2 * sum(read[j] != letter for j in v[:k]) >= k for i in v[:k]]
            for key, chosen in (("by_k", given), ("wrong_letters", wrong)):
                started = time.perf_counter()
                head = (adapt_head(base, examples.vectors[chosen], labels[chosen], settings)
                        if chosen else base)
                row[key][k] = {
                    "person": round(accuracy(head, examples.vectors[test], labels[test]), 4),
                    "others": round(accuracy(head, examples.vectors[others], labels[others]), 4),
                    "others_before": round(before_others, 4),
                    "seconds": round(time.perf_counter() - started, 3), "examples": len(chosen),
                    "letters": len({int(labels[i]) for i in chosen})}
        per_person.append(row)
    ks = sorted({k for r in per_person for k in r["by_k"]})
    return {"people": len(people), "per_person": per_person,
            "mean": mean_over_people(per_person, "by_k", ks),
            "mean_wrong_letters": mean_over_people(per_person, "wrong_letters", ks)}


def mean_over_people(per_person: list[dict], key: str, ks: list[int]) -> dict:
    return {k: {field: round(float(np.mean([r[key][k][field] for r in per_person
                                            if k in r[key]])), 4)
                for field in ("person", "others", "others_before", "seconds", "letters")}
            for k in ks}


def predict(head: torch.nn.Module, vectors: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return head.eval()(torch.from_numpy(np.asarray(vectors, np.float32))).argmax(1).numpy()


def bases_key(pooled, seed: int) -> str:
    digest = hashlib.sha256(f"{seed}|{PEOPLE_SOURCES}".encode())
    for array in (pooled.examples.vectors, pooled.labels, pooled.sources, pooled.readable):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def fitted_bases(pooled, path: Path, seed: int) -> dict[str, torch.nn.Module]:
    """For each people source, the default recipe fitted on every other source (``path`` keeps
    them for the next run while the features, labels and seed are the same)."""
    key = bases_key(pooled, seed)
    if path.is_file():
        kept = torch.load(path, weights_only=False)
        if kept.get("key") == key:
            print(f"bases from {path}", flush=True)
            return kept["bases"]
    bases = {}
    for name in PEOPLE_SOURCES:
        k = list(SOURCES).index(name)
        # as `train` fits the other sources: the fusion's landmark weight chosen on them
        fitter = fit_heads(pooled, [i for i in range(len(pooled.paths)) if pooled.sources[i] != k],
                           seed=seed)
        bases[name] = fitter.fitted.head.eval()
        print(f"base without {name}: fitted (landmark weight "
              f"{bases[name].landmark_weight})", flush=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save({"key": key, "bases": bases}, temporary)
    temporary.replace(path)
    return bases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", default="0,1,2,3,5,10")
    parser.add_argument("--select", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/adaptation.json"))
    parser.add_argument("--bases", type=Path, default=BASES)
    parser.add_argument("--previous", action="store_true",
                        help="also measure the previous settings (results under 'previous')")
    args = parser.parse_args()
    shots = [int(k) for k in args.shots.split(",")]
    started = time.perf_counter()
    mode = get_mode("fusion")
    pooled = pooled_features(mode.name, list(SOURCES))
    images, paths = pooled.images, pooled.paths
    usable, examples = pooled.readable, pooled.examples
    print(f"features of {len(paths)} photos in {time.perf_counter() - started:.0f} s", flush=True)

    bases = fitted_bases(pooled, args.bases, args.seed)
    settings = AdaptSettings()
    selection = []
    if args.select:
        for candidate in CANDIDATES:
            result = run_source(SELECTION, bases[SELECTION], examples, images, usable,
                                list(SELECTION_SHOTS), candidate, args.seed)
            means = [result[way][k] for way in ("mean", "mean_wrong_letters")
                     for k in SELECTION_SHOTS]
            selection.append({
                "settings": candidate.__dict__,
                "person": round(float(np.mean([m["person"] for m in means])), 4),
                "others": round(float(np.mean([m["others"] for m in means])), 4)})
            print(f"select {candidate}: person {selection[-1]['person']:.1%}, others "
                  f"{selection[-1]['others']:.1%} (k = 1, 2; all and wrong letters)", flush=True)
        best = max(selection, key=lambda r: (r["person"], r["others"]))
        settings = replace(settings, **best["settings"])
        print(f"chosen on {SELECTION}: {settings}", flush=True)

    results = {}
    for name in PEOPLE_SOURCES:
        results[name] = run_source(name, bases[name], examples, images, usable, shots, settings,
                                   args.seed)
        for way in ("mean", "mean_wrong_letters"):
            for k, row in results[name][way].items():
                print(f"{name:<13} {'all' if way == 'mean' else 'wrong':<5} k={k:<3} person "
                      f"{row['person']:.1%}  others {row['others']:.1%} (before "
                      f"{row['others_before']:.1%})  {row['letters']:.1f} letters "
                      f"{row['seconds']:.2f} s", flush=True)
    previous = {}
    if args.previous:
        for name in PEOPLE_SOURCES:
            previous[name] = run_source(name, bases[name], examples, images, usable, shots,
                                        PREVIOUS, args.seed)
            print(f"{name:<13} previous settings measured", flush=True)
    output = {"settings": settings.__dict__, "previous_settings": PREVIOUS.__dict__,
              "previous": previous, "selection_source": SELECTION if args.select else None,
              "selection": selection, "results": results,
              "seconds": round(time.perf_counter() - started)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(output, indent=2) + "\n")
    plot(results, args.out.with_suffix(".png"))


def plot(results: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    figure = Figure(figsize=(10, 4))
    for column, (way, title) in enumerate((("mean", "k photos of every letter"),
                                           ("mean_wrong_letters",
                                            "k photos of the letters it got wrong (Teach)"))):
        axes = figure.add_subplot(1, 2, column + 1)
        for name, result in results.items():
            ks = sorted(result[way])
            line, = axes.plot(ks, [result[way][k]["person"] for k in ks], marker="o",
                              label=f"{name}: the person")
            axes.plot(ks, [result[way][k]["others"] for k in ks], linestyle="--",
                      color=line.get_color(), label=f"{name}: everyone else")
        axes.set_xlabel("photos per letter used to adapt")
        axes.set_ylabel("accuracy")
        axes.set_ylim(0.5, 1)
        axes.grid(alpha=0.3)
        axes.set_title(title, fontsize=9)
    axes.legend(fontsize=6)
    figure.suptitle("Adapting to a person never seen (base trained without their source)")
    FigureCanvasAgg(figure).print_png(str(path))


if __name__ == "__main__":
    sys.exit(main())
