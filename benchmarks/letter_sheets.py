"""Contact sheets: how each shared source signs a letter, side by side.

Usage: python benchmarks/letter_sheets.py [--letters T,C,K,M,N,S] [--per-source 6]
                                          [--out reports/letter_sheets]

One PNG per letter (``<out>/<letter>.png``): a row per shared source that has the letter, up
to ``--per-source`` photos spread over its people and frames, each labelled with its file name.
Leave-one-source-out can only be as good as the sources agree on a letter's handshape and the
camera's view of it; these sheets are how the disagreements in docs/results/generalisation.md were found. The
sheets are derived from the shared photos, so they are written outside the repository's
tracked files (``reports/`` is ignored).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from common import SOURCES
from fingerspell.data import discover

TILE = 128
LABEL = 14


def spread(paths: list[Path], count: int) -> list[Path]:
    """Up to ``count`` photos taken in turn from each person (the file name's first part),
    evenly spaced over each person's frames."""
    people: dict[str, list[Path]] = {}
    for path in sorted(paths):
        people.setdefault(path.name.split("_")[0], []).append(path)
    spaced = [[photos[round(i * len(photos) / count)] for i in range(min(count, len(photos)))]
              for photos in people.values()]
    in_turn = [photos[depth] for depth in range(count) for photos in spaced
               if depth < len(photos)]
    return in_turn[:count]


def sheet(letter: str, rows: dict[str, list[Path]], per_source: int) -> Image.Image:
    name_width = 110
    canvas = Image.new("RGB", (name_width + per_source * TILE, len(rows) * (TILE + LABEL)),
                       "white")
    draw = ImageDraw.Draw(canvas)
    for r, (source, photos) in enumerate(rows.items()):
        top = r * (TILE + LABEL)
        draw.text((4, top + TILE // 2), f"{source}\n{letter}", fill="black")
        for c, path in enumerate(photos):
            with Image.open(path) as photo:
                tile = photo.convert("RGB")
                tile.thumbnail((TILE, TILE))
            left = name_width + c * TILE
            canvas.paste(tile, (left, top))
            draw.text((left + 2, top + TILE), path.stem[:20], fill="black")
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", default="T,C,K,M,N,S")
    parser.add_argument("--per-source", type=int, default=6)
    parser.add_argument("--out", type=Path, default=Path("reports/letter_sheets"))
    args = parser.parse_args()
    sets = {name: discover(folder) for name, folder in SOURCES.items() if folder.is_dir()}
    if not sets:
        sys.exit("needs the shared sources under ../shared/data")
    args.out.mkdir(parents=True, exist_ok=True)
    for letter in args.letters.split(","):
        rows = {name: spread([s.path for s in images.samples if s.label == letter],
                             args.per_source)
                for name, images in sets.items()}
        rows = {name: photos for name, photos in rows.items() if photos}
        if not rows:
            print(f"{letter}: no source has it")
            continue
        target = args.out / f"{letter}.png"
        sheet(letter, rows, args.per_source).save(target)
        print(f"{letter}: {target} ({', '.join(rows)})")


if __name__ == "__main__":
    sys.exit(main())
