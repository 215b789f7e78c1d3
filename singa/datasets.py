"""MNIST-format (IDX) data sets: Fashion-MNIST by default, MNIST when given.

``python -m singa.datasets download --dest DIR`` fetches Fashion-MNIST's IDX
files from their public location, for machines without Debian's
``dataset-fashion-mnist`` package.
"""

from __future__ import annotations

import argparse
import gzip
import os
import urllib.request

import numpy as np

from .errors import SingaError

DEFAULT_DIRS = ("/usr/share/datasets/fashion-mnist",
                os.path.expanduser("~/.cache/singa/fashion-mnist"))
FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
         "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"


def read_idx(path: str) -> np.ndarray:
    """An IDX file (optionally gzipped) as a uint8 array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise SingaError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise SingaError(f"{path}: header says {dims}, file holds {body.size} values")
    return body.reshape(dims)


def _find(folder: str, stem: str) -> str:
    for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
        p = os.path.join(folder, name)
        if os.path.isfile(p):
            return p
    raise SingaError(f"{stem}[.gz] not found in {folder}")


def find_data_dir(given: str | None = None) -> str:
    """``given`` if it holds the IDX files, else the first default folder that does."""
    for d in ([given] if given else []) + list(DEFAULT_DIRS):
        if d and all(_exists(d, s) for s in FILES.values()):
            return d
    raise SingaError(f"no MNIST-format data in {given or ''} {DEFAULT_DIRS}; "
                     "install Debian's dataset-fashion-mnist or run "
                     "`python -m singa.datasets download`")


def _exists(d, stem):
    try:
        _find(d, stem)
        return True
    except SingaError:
        return False


def load(folder: str | None = None):
    """(train_x, train_y, test_x, test_y): images float32 N x 1 x 28 x 28 in [0, 1],
    labels as int64."""
    d = find_data_dir(folder)
    arrays = {k: read_idx(_find(d, stem)) for k, stem in FILES.items()}
    tx = arrays["train_x"].astype(np.float32)[:, None] / 255.0
    vx = arrays["test_x"].astype(np.float32)[:, None] / 255.0
    return tx, arrays["train_y"].astype(np.int64), vx, arrays["test_y"].astype(np.int64)


def to_categorical(y, num_classes: int) -> np.ndarray:
    """One-hot float32 rows for integer labels."""
    y = np.asarray(y, dtype=np.int64)
    out = np.zeros((y.shape[0], num_classes), np.float32)
    out[np.arange(y.shape[0]), y] = 1
    return out


def download(dest: str, base_url: str = FASHION_URL) -> str:
    os.makedirs(dest, exist_ok=True)
    for stem in FILES.values():
        path = os.path.join(dest, stem + ".gz")
        if not os.path.isfile(path):
            print(f"downloading {base_url}{stem}.gz")
            urllib.request.urlretrieve(base_url + stem + ".gz", path)
    return dest


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m singa.datasets")
    sub = ap.add_subparsers(dest="cmd", required=True)
    dl = sub.add_parser("download", help="fetch Fashion-MNIST IDX files")
    dl.add_argument("--dest", default=DEFAULT_DIRS[1])
    args = ap.parse_args(argv)
    print(download(args.dest))


if __name__ == "__main__":
    main()
