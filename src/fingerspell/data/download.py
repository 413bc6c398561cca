"""``fingerspell data download``: fetch the Kaggle "ASL Alphabet" set with the Kaggle API."""

from __future__ import annotations

from pathlib import Path

from ..errors import FingerspellError

KAGGLE_DATASET = "grassknoted/asl-alphabet"
HOW_TO_GET = (f"get the Kaggle 'ASL Alphabet' set: https://www.kaggle.com/datasets/{KAGGLE_DATASET} "
              f"(or 'fingerspell data download' with a Kaggle API token in ~/.kaggle/kaggle.json)")


def download_kaggle(dest: Path) -> Path:
    """Download and unzip the data set into ``dest``; returns the training folder."""
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise FingerspellError("the Kaggle API is not installed: pip install kaggle, put your "
                               "token in ~/.kaggle/kaggle.json, then run this again") from None
    api = KaggleApi()
    try:
        api.authenticate()
        dest.mkdir(parents=True, exist_ok=True)
        api.dataset_download_files(KAGGLE_DATASET, path=str(dest), unzip=True, quiet=False)
    except Exception as exc:  # noqa: BLE001 - auth, network and API errors alike
        raise FingerspellError(f"Kaggle download of {KAGGLE_DATASET} failed: "
                               f"{' '.join(str(exc).split())}") from None
    train_dir = dest / "asl_alphabet_train"
    return train_dir if train_dir.exists() else dest
