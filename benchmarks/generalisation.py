"""How the recognizer does on people, cameras and rooms it has never seen: leave one source out.

Usage: python benchmarks/generalisation.py [--features fusion] [--sources a,b,...]
                                           [--landmark-weights 0.3,0.5,0.7] [--head-rules]
                                           [--leave-source-out-only] [--landmark-encoding 1]
                                           [--drop SOURCE:L,L]
                                           [--out benchmarks/results/generalisation.json]

The shared sources (Kaggle frames: one signer, one room; multi_signer: 21 people, 10 letters;
webcam_mit: 5 people at their own webcams; mon95: 3 people, tight crops; surrey_user_a: one
person, Kinect; asl_hg: 7 people, phone photos; phone_cortic: several unnamed people
photographing their own hand from above) are pooled as ``fingerspell train DIR1 DIR2 ...``
pools them (classes merged by name, every folder weighing the same within a letter). Folds:

- leave one source out: train on all the other sources, test on that one (every photo of it);
- leave signers out, for the sources whose file names say who signed: the source's people in up
  to 5 groups; each group is tested by a model trained on every other source plus the other
  people of its own source;
- the Kaggle frame-block split (the figure ``train`` reports), for comparison.

Each fold fits the heads exactly as ``fingerspell train --features MODE`` does (``HeadFitter``:
the mode's recipe, augmented views, source balancing) and decides as ``predict`` does where no
hand is found. Reported per source: accuracy, share of photos with a hand found, recall per
letter and the five worst letters; then the mean over the held-out sources and the recall of
the letters that tell apart by the thumb or a finger's angle (M, N, T, S, X, E, I) pooled over
the held-out sources. A fusion's landmark weight is chosen in every fold as ``train`` chooses
it (``--landmark-weight auto``: one more fit per training source; on 2 cores 17 minutes for
``--leave-source-out-only``, over two hours with the leave-signers-out folds, whose training
sets are twice as large); a number fixes it everywhere (one fit a fold). Nothing here chooses
a recipe,
so the figures are not optimistic for the recipe they measure; a script that compares recipes on
these folds must keep a selection fold apart or say how optimistic its choice is.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from common import SHARED, SOURCES, fit_heads, pooled_features
from fingerspell.data import split_samples
from fingerspell.head.calibration import fit_temperature, reliability, temper
from fingerspell.head.recipes import recipe_for_features
from fingerspell.training.fitting import Examples, HeadFitter

SIGNER_FOLDS = 5
HARD_LETTERS = ("M", "N", "T", "S", "X", "E", "I")


def score(fitter: HeadFitter, examples: Examples, classes: list[str], rows: list[int],
          found: np.ndarray) -> dict:
    """Accuracy on ``rows``, the hand detection rate, and the worst letters by recall."""
    predicted = fitter.predict_proba(examples.vectors[rows]).argmax(1)
    truth = examples.labels[rows]
    if fitter.mode.head_needs_hand:  # landmarks: no hand -> `nothing` (what predict does)
        nothing = next((i for i, c in enumerate(classes) if c.lower() == "nothing"), -1)
        predicted = np.where(found[rows], predicted, nothing)
    recall = {classes[c]: float((predicted[truth == c] == c).mean()) for c in np.unique(truth)}
    worst = sorted(recall.items(), key=lambda item: item[1])[:5]
    return {"accuracy": round(float((predicted == truth).mean()), 4), "n": len(rows),
            "hand_found": round(float(found[rows].mean()), 4),
            "worst": [[letter, round(r, 3)] for letter, r in worst],
            "recall": {letter: round(r, 3) for letter, r in recall.items()},
            "n_per_letter": {classes[c]: int((truth == c).sum()) for c in np.unique(truth)}}


def head_rules(head: torch.nn.Module, examples: Examples, rows: list[int],
               found: np.ndarray) -> dict[str, float]:
    """Accuracy on ``rows`` of a fusion head's parts alone and combined in other ways (where no
    hand was found every rule falls back on the crop head, as the model does)."""
    x = torch.from_numpy(np.asarray(examples.vectors[rows], np.float32))
    split = head.crop.config.in_dim
    with torch.no_grad():
        crop = head.crop.eval()(x[:, :split]).softmax(-1).numpy()
        marks = head.landmarks.eval()(x[:, split:split + head.landmarks.config.in_dim]
                                      ).softmax(-1).numpy()
    c_crop, c_marks = crop.max(1, keepdims=True), marks.max(1, keepdims=True)
    rules = {"mean (today)": (crop + marks) / 2, "crop head alone": crop,
             "landmark head alone": marks, "product": np.sqrt(crop * marks),
             "confidence-weighted mean": (c_crop * crop + c_marks * marks) / (c_crop + c_marks)}
    truth, hand = examples.labels[rows], found[rows][:, None]
    return {name: round(float((np.where(hand, p, crop).argmax(1) == truth).mean()), 4)
            for name, p in rules.items()}


def held_out_calibration(fold_answers: dict[str, tuple[np.ndarray, np.ndarray]],
                         source: str) -> dict[str, float]:
    """Expected calibration error on ``source``'s held-out answers: raw, and with a temperature
    fitted on the other folds' out-of-source answers (how ``train`` fits it on several folders;
    those folds' heads did see ``source``, so this is an estimate, not a nested fit)."""
    probs, truth = fold_answers[source]
    others = [answers for name, answers in fold_answers.items() if name != source]
    temperature = fit_temperature(np.concatenate([p for p, _ in others]),
                                  np.concatenate([t for _, t in others]))
    return {"temperature": round(temperature, 3),
            "ece_raw": round(reliability(probs, truth)["ece"], 4),
            "ece_calibrated": round(reliability(temper(probs, temperature), truth)["ece"], 4)}


def validation_calibration(fit, examples: Examples, samples: list, rows: list[int],
                           held_out: list[int], seed: int,
                           landmark_weight: float | None = None) -> dict[str, float]:
    """The temperature ``train`` would fit on its validation split of ``rows`` (the default
    split of those samples), applied to a head fitted on the rest and scored on ``held_out``;
    a fusion mixes at ``landmark_weight`` (``train`` chooses it on all of ``rows``)."""
    split = split_samples(samples, seed=seed)
    fitted = fit([rows[j] for j in split.train])
    if landmark_weight is not None:
        fitted.fitted.head.landmark_weight = landmark_weight
    val = [rows[j] for j in split.val if examples.found[rows[j]] or not fitted.mode.head_needs_hand]
    temperature = fit_temperature(fitted.predict_proba(examples.vectors[val]),
                                  examples.labels[val])
    probs, truth = fitted.predict_proba(examples.vectors[held_out]), examples.labels[held_out]
    return {"temperature": round(temperature, 3), "split": split.strategy,
            "accuracy": round(float((probs.argmax(1) == truth).mean()), 4),
            "ece_calibrated": round(reliability(temper(probs, temperature), truth)["ece"], 4)}


def dropped_rows(spec: str, names: list[str], sources: np.ndarray, labels: np.ndarray,
                 classes: list[str]) -> set[int]:
    """Rows that ``--drop SOURCE:L,L;SOURCE:L`` leaves out of training."""
    rows: set[int] = set()
    for part in filter(None, spec.split(";")):
        source, _, letters = part.partition(":")
        if source not in names or not letters:
            sys.exit(f"--drop {part!r}: expected SOURCE:L,L with SOURCE in {names}")
        unknown = [c for c in letters.split(",") if c not in classes]
        if unknown:
            sys.exit(f"--drop {part!r}: unknown letter {unknown[0]!r}")
        drop = {classes.index(c) for c in letters.split(",")}
        k = names.index(source)
        rows |= {i for i in range(len(labels)) if sources[i] == k and labels[i] in drop}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", default="fusion")
    parser.add_argument("--sources", default=",".join(SOURCES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--landmark-weights", default="", metavar="W,W",
                        help="fusion: also score each leave-source-out fold with these weights "
                             "of the landmark head (the heads are fitted once)")
    parser.add_argument("--head-rules", action="store_true",
                        help="fusion: also score the crop head alone, the landmark head alone, "
                             "their product and a confidence-weighted mean per fold")
    parser.add_argument("--landmark-encoding", type=int, default=None,
                        help="landmark encoding (default: today's; 1: bundles that name none)")
    parser.add_argument("--validation-temperature", action="store_true",
                        help="also calibrate each leave-source-out fold on a validation split "
                             "of its training sources (one more fit per fold) and report its "
                             "held-out calibration error beside the leave-source-out one")
    parser.add_argument("--leave-source-out-only", action="store_true",
                        help="skip the leave-signers-out folds and the frame split")
    parser.add_argument("--landmark-weight", default="auto", metavar="auto|W",
                        help="fusion: as `train --landmark-weight`; auto (default) chooses it "
                             "in every fold from its training sources alone, as `train` does "
                             "(one more fit per training source)")
    parser.add_argument("--drop", default="", metavar="SOURCE:L,L;SOURCE:L",
                        help="leave these letters of these sources out of every fold's training "
                             "(e.g. kaggle:M,N: a source that signs them differently); held-out "
                             "sources are still scored on all their photos")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/generalisation.json"))
    args = parser.parse_args()
    names = args.sources.split(",")
    weights = [float(w) for w in args.landmark_weights.split(",") if w]
    started = time.perf_counter()
    recipe = recipe_for_features(args.features)
    pooled = pooled_features(args.features, names, args.landmark_encoding)
    mode = pooled.mode
    images, paths, labels, sources = pooled.images, pooled.paths, pooled.labels, pooled.sources
    readable, found, examples = pooled.readable, pooled.features.found, pooled.examples
    print(f"{len(paths)} photos from {len(names)} sources, {len(images.classes)} classes; "
          f"features in {time.perf_counter() - started:.0f} s", flush=True)

    dropped = dropped_rows(args.drop, names, sources, labels, images.classes)

    def fit(train: list[int], choose_weight: bool = False) -> HeadFitter:
        weight = (args.landmark_weight if args.landmark_weight != "auto"
                  else "auto" if choose_weight else None)
        return fit_heads(pooled, [i for i in train if i not in dropped], seed=args.seed,
                         landmark_weight=weight)

    rows = []
    fold_answers: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # leave source out: heads' answers
    for k, name in enumerate(names):
        others = [i for i in range(len(paths)) if sources[i] != k]
        # letters no other source has (Kaggle's del, nothing, space) cannot be learnt: left out
        known = set(labels[others].tolist())
        in_source = [i for i in range(len(paths)) if sources[i] == k and readable[i]]
        held_out = [i for i in in_source if labels[i] in known]
        unseen = sorted({images.classes[labels[i]] for i in in_source} - {images.classes[c] for c in known})
        fitted = fit(others, choose_weight=True)
        result = {"source": name, "fold": "leave source out", "letters_no_other_source_has": unseen,
                  **score(fitted, examples, images.classes, held_out, found)}
        if mode.late_fusion:
            result["landmark_weight"] = fitted.fitted.head.landmark_weight
        answerable = [i for i in held_out if found[i] or not mode.head_needs_hand]
        fold_answers[name] = (fitted.predict_proba(examples.vectors[answerable]),
                              examples.labels[answerable])
        if args.validation_temperature:  # as `train` calibrates on one source: its own split
            result["calibration_validation_split"] = validation_calibration(
                fit, examples, [images.samples[i] for i in others], others, answerable,
                args.seed, result.get("landmark_weight"))
        if weights:  # fusion: the same two heads, mixed with other landmark weights
            head = fitted.fitted.head
            default = head.landmark_weight
            result["by_landmark_weight"] = {}
            for weight in weights:
                head.landmark_weight = weight
                result["by_landmark_weight"][str(weight)] = score(
                    fitted, examples, images.classes, held_out, found)["accuracy"]
            head.landmark_weight = default
        if args.head_rules:  # fusion: each head alone, and other ways of combining them
            result["by_head_rule"] = head_rules(fitted.fitted.head, examples, held_out, found)
        rows.append(result)
        print(f"{name:<15} leave source out   {result['accuracy']:.1%} of {result['n']} "
              f"(hand {result['hand_found']:.0%}); worst {result['worst']}", flush=True)
        people = sorted({images.samples[i].signer for i in in_source} - {None})
        if len(people) < 2 or args.leave_source_out_only:
            continue
        correct, n, hands, chosen = 0.0, 0, 0.0, []
        for group in (people[g::SIGNER_FOLDS] for g in range(min(SIGNER_FOLDS, len(people)))):
            test = [i for i in in_source if images.samples[i].signer in group]
            excluded = set(test)
            fitted = fit([i for i in range(len(paths)) if i not in excluded], choose_weight=True)
            part = score(fitted, examples, images.classes, test, found)
            correct += part["accuracy"] * part["n"]
            n += part["n"]
            hands += part["hand_found"] * part["n"]
            if mode.late_fusion:
                chosen.append(fitted.fitted.head.landmark_weight)
        result = {"source": name, "fold": "leave signers out", "people": len(people),
                  "accuracy": round(correct / n, 4), "n": n, "hand_found": round(hands / n, 4)}
        if chosen:
            result["landmark_weights"] = chosen
        rows.append(result)
        print(f"{name:<15} leave signers out  {result['accuracy']:.1%} of {n} "
              f"({len(people)} people)", flush=True)
    if "kaggle" in names and not args.leave_source_out_only:  # the frame-block split, as `train` reports it
        kaggle = names.index("kaggle")
        in_kaggle = [i for i in range(len(paths)) if sources[i] == kaggle]
        split = split_samples([images.samples[i] for i in in_kaggle], strategy="frame",
                              seed=args.seed)
        others = [i for i in range(len(paths)) if sources[i] != kaggle]
        train = others + [in_kaggle[j] for j in split.train]
        test = [in_kaggle[j] for j in split.val if readable[in_kaggle[j]]]
        fitted = fit(train, choose_weight=True)
        result = {"source": "kaggle", "fold": "frame split (one signer)",
                  **score(fitted, examples, images.classes, test, found)}
        if mode.late_fusion:
            result["landmark_weight"] = fitted.fitted.head.landmark_weight
        rows.append(result)
        print(f"kaggle          frame split        {result['accuracy']:.1%}", flush=True)
    held = [r["accuracy"] for r in rows if r["fold"] == "leave source out"]
    hard = {}  # recall per hard letter over every held-out photo of it (leave source out)
    for letter in HARD_LETTERS:
        parts = [(r["recall"][letter], r["n_per_letter"][letter]) for r in rows
                 if r["fold"] == "leave source out" and letter in r["recall"]]
        if parts:
            hard[letter] = round(sum(a * n for a, n in parts) / sum(n for _, n in parts), 3)
    for row in rows:
        if row["fold"] == "leave source out" and len(fold_answers) > 1:
            row["calibration"] = held_out_calibration(fold_answers, row["source"])
    output = {"features": mode.name, "landmark_encoding": mode.landmark_encoding,
              "dropped_from_training": {"spec": args.drop, "photos": len(dropped)},
              "recipe": recipe.to_dict(), "seed": args.seed,
              "sources": {n: str(SOURCES[n].relative_to(SHARED)) for n in names},
              "n_photos": len(paths), "rows": rows,
              "mean_leave_source_out": round(float(np.mean(held)), 4),
              "min_leave_source_out": round(float(np.min(held)), 4),
              "hard_letter_recall_leave_source_out": hard,
              "ece_calibrated_leave_source_out": [r["calibration"]["ece_calibrated"]
                                                  for r in rows if "calibration" in r],
              "seconds": round(time.perf_counter() - started)}
    print(f"mean over held-out sources {output['mean_leave_source_out']:.1%}, "
          f"worst {output['min_leave_source_out']:.1%}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(output, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
