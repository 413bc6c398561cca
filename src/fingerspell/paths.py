"""Default output folders: numbered, never reused (``runs/train``, ``runs/train2``, ...)."""

from __future__ import annotations

from pathlib import Path

from .errors import FingerspellError

RUNS = Path("runs")


def numbered_dir(base: Path) -> Path:
    """``base``, else ``base2``, ``base3``, ...: the first that does not exist or is empty.

    Example:
        >>> import tempfile; root = Path(tempfile.mkdtemp())
        >>> (root / "train").mkdir(); (root / "train" / "x").touch()
        >>> numbered_dir(root / "train").name
        'train2'
    """
    for n in range(1, 100_000):
        candidate = base if n == 1 else base.with_name(f"{base.name}{n}")
        if not candidate.exists() or (candidate.is_dir() and not any(candidate.iterdir())):
            return candidate
    raise FingerspellError(f"{base.parent}: too many numbered folders; choose one yourself")
