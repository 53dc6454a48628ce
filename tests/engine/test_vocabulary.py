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


def _clustered(n: int, seed: int = 0) -> np.ndarray:
    """uint8 descriptors around 200 centres: many near-ties between words, as SIFT gives."""
    rng = np.random.default_rng(seed)
    centres = rng.integers(0, 60, (200, 128))
    return np.clip(centres[rng.integers(0, 200, n)] + rng.normal(0, 8, (n, 128)), 0, 255).astype(np.uint8)


def test_vocabulary_words_and_signatures_do_not_depend_on_the_thread_count():
    from threadpoolctl import threadpool_limits

    from pixret.engine.vocabulary import train_vocabulary

    x = _clustered(12000)
    out = set()
    for n in (1, 2, 3):
        with threadpool_limits(n):
            q = Quantizer(train_vocabulary(x, 256, 4))
            words = q.assign(x[:2000], 3)
            out.add((q.centroids.tobytes(), words.tobytes(), q.signatures(x[:2000], words).tobytes()))
    assert len(out) == 1


def test_faiss_runs_at_the_fixed_thread_count(monkeypatch):
    """k-means, the IVF lists and word assignment run with one OpenMP and BLAS thread whatever
    the caller's pools (the cause of a cluster build's other bytes; parallel.fixed_threads)."""
    import faiss
    from threadpoolctl import threadpool_info, threadpool_limits

    from pixret.engine.vocabulary import train_vocabulary
    from pixret.parallel import NUMERIC_THREADS

    seen = {}

    def spy(name, cls, method):
        real = getattr(cls, method)

        def wrapper(*args, **kwargs):
            seen[name] = {lib["num_threads"] for lib in threadpool_info()}
            return real(*args, **kwargs)

        monkeypatch.setattr(cls, method, wrapper)

    spy("k-means", faiss.Kmeans, "train")
    spy("IVF lists", faiss.IndexIVFFlat, "train")
    spy("flat words", faiss.IndexFlatL2, "search")
    spy("IVF words", faiss.IndexIVFFlat, "search")
    x = _clustered(4000)
    with threadpool_limits(3):
        Quantizer(train_vocabulary(x, 64, 2)).assign(x[:100])
        big = np.random.default_rng(1).random((2100, 128)).astype(np.float32)  # > 2k words: IVF
        Quantizer(big).assign(x[:100], 3)
    assert seen == dict.fromkeys(["k-means", "IVF lists", "flat words", "IVF words"], {NUMERIC_THREADS})
