"""The "MiniLM with noise" set the FAISS anchors share: the 778 real all-MiniLM-L6-v2 vectors in
../shared/assets/sap-fiori-minilm-vectors/embeddings.bin, each drawn row repeated with Gaussian noise
(per-dimension standard deviation `noise`) and normalised again. The draws come from the caller's
numpy Generator, so one Generator used for data then queries gives the same rows as before.
"""
import os

import numpy as np

DIM = 384
DEFAULT_ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '../../../shared/assets')


def load_real(assets=DEFAULT_ASSETS):
    return np.fromfile(os.path.join(assets, 'sap-fiori-minilm-vectors/embeddings.bin'), dtype='<f4').reshape(-1, DIM)


def noisy(real, rng, count, noise):
    rows = real[rng.integers(0, len(real), count)] + rng.normal(0, noise, (count, DIM)).astype('f4')
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype('f4')


def write_fvecs(path, x):
    """The standard fvecs layout: per row an int32 dimension then that many float32 values."""
    x = np.ascontiguousarray(x, dtype='<f4')
    rows = np.empty((x.shape[0], x.shape[1] + 1), dtype='<f4')
    rows[:, 1:] = x
    rows.view('<i4')[:, 0] = x.shape[1]
    rows.tofile(path)
