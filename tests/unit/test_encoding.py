from __future__ import annotations

import numpy as np

from trusteq.models.encoding import BucketBatchSampler, LengthSortedSampler


def test_bucket_sampler_covers_every_index_once_per_epoch():
    lengths = np.random.default_rng(0).integers(1, 60, size=1003)
    sampler = BucketBatchSampler(lengths, batch_size=32, seed=1, pool_batches=4)
    for _ in range(2):
        batches = list(sampler)
        assert len(batches) == len(sampler)
        flat = np.concatenate(batches)
        assert sorted(flat.tolist()) == list(range(1003))
        assert max(len(b) for b in batches) == 32


def test_bucket_sampler_reduces_padding_and_is_reproducible():
    lengths = np.random.default_rng(0).integers(1, 60, size=2000)
    first = list(BucketBatchSampler(lengths, 32, seed=3))
    assert first == list(BucketBatchSampler(lengths, 32, seed=3))
    assert first != list(BucketBatchSampler(lengths, 32, seed=4))
    rng = np.random.default_rng(0)
    random_batches = np.array_split(rng.permutation(2000), 63)

    def padded(batches):
        return sum(len(b) * lengths[b].max() for b in batches)

    assert padded(first) < 0.8 * padded(random_batches)


def test_length_sorted_sampler_is_a_permutation_longest_first():
    lengths = np.array([3, 9, 1, 9, 5])
    order = list(LengthSortedSampler(lengths))
    assert sorted(order) == list(range(5))
    assert lengths[order].tolist() == sorted(lengths.tolist(), reverse=True)
