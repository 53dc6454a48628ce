"""Hamming-embedding signatures and split words (engine/vocabulary.py): tiny hand-made arrays
with exact expected outputs."""

import numpy as np

from pixret.engine.features import DESC_SCALE
from pixret.engine.vocabulary import SIGNATURE_BITS, Quantizer, he_projection, split_words


def test_split_words_takes_the_low_signature_bits():
    words = np.array([0, 1, 5], np.int32)
    sigs = np.array([0b1011, 0b0100, 0xFFFF_FFFF_FFFF_FFFF], np.uint64)
    assert split_words(words, sigs, 0).tolist() == [0, 1, 5]
    assert split_words(words, sigs, 2).tolist() == [0 * 4 + 3, 1 * 4 + 0, 5 * 4 + 3]
    assert split_words(words, sigs, 4).tolist() == [11, 16 + 4, 80 + 15]


def test_projection_is_orthonormal_and_fixed():
    p = he_projection(128)
    assert p.shape == (128, SIGNATURE_BITS)
    assert np.allclose(p.T @ p, np.eye(SIGNATURE_BITS), atol=1e-5)
    assert np.array_equal(p, he_projection(128))


def test_near_descriptors_get_near_signatures():
    rng = np.random.default_rng(0)
    centroids = rng.random((4, 128)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    quant = Quantizer(centroids)
    base = centroids[2] + 0.05 * rng.standard_normal((50, 128))
    near = base + 0.01 * rng.standard_normal((50, 128))
    far = centroids[2] + 0.05 * rng.standard_normal((50, 128))

    def u8(x):
        x = np.clip(x, 0, None)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return np.round(x * DESC_SCALE).astype(np.uint8)

    words = np.full(50, 2, np.int32)
    s_base, s_near, s_far = (quant.signatures(u8(x), words) for x in (base, near, far))
    assert s_base.dtype == np.uint64 and s_base.shape == (50,)
    d_near = np.bitwise_count(s_base ^ s_near)
    d_far = np.bitwise_count(s_base ^ s_far)
    assert np.median(d_near) < 12 < np.median(d_far)
    # several words per feature: one signature per (feature, word)
    two = quant.signatures(u8(base), np.stack([words, np.full(50, 1, np.int32)], 1))
    assert two.shape == (50, 2) and np.array_equal(two[:, 0], s_base)
