"""Chapter 19's self-checks pass the notebook's solutions (visible and hidden seeds), say "not implemented yet"
for the stubs, and fail on the mistakes a learner is likely to make."""


from cnnlib import checks
from checking import fails


def stub(*args, **kwargs):
    raise NotImplementedError


# -- the notebook's solutions (copied from its solution cells) --

def shard_batch(X, y, rank, world):
    base, extra = divmod(X.shape[0], world)
    start = rank * base + min(rank, extra)  # the first `extra` slices hold one example more
    stop = start + base + (1 if rank < extra else 0)
    return X[start:stop], y[start:stop]


def combine_gradients(grads, sizes, reduction="mean"):
    n = sum(sizes)
    weights = [size / n if reduction == "mean" else 1.0 for size in sizes]
    return [sum(w * g[i] for w, g in zip(weights, grads)) for i in range(len(grads[0]))]


def test_shard_batch():
    assert checks.check_shard_batch(shard_batch)
    assert checks.check_shard_batch(shard_batch, seed=1901)
    assert "not implemented yet" in fails(checks.check_shard_batch, stub)
    # chunk gives ceil-sized pieces (7 -> 3, 3, 1): not the even split
    assert "smallest failing one" in fails(checks.check_shard_batch, lambda X, y, r, w: (X.chunk(w)[r], y.chunk(w)[r]))
    # interleaved slices (r, r + w, ...) are disjoint too, but not contiguous
    assert "smallest failing one" in fails(checks.check_shard_batch, lambda X, y, r, w: (X[r::w], y[r::w]))
    assert "tensor_split" in fails(checks.check_shard_batch,
                                   lambda X, y, r, w: (X.tensor_split(w)[r], y.tensor_split(w)[r]))
    from cnnlib.distributed import shard  # taken before the check: still refused

    assert "shard" in fails(checks.check_shard_batch, shard)


def test_combine_gradients():
    assert checks.check_combine_gradients(combine_gradients)
    assert checks.check_combine_gradients(combine_gradients, seed=1902)
    assert "not implemented yet" in fails(checks.check_combine_gradients, stub)

    def plain_mean(grads, sizes, reduction="mean"):  # right for equal slices only
        return [sum(g[i] for g in grads) / len(grads) for i in range(len(grads[0]))]

    assert "case 2 of 7" in fails(checks.check_combine_gradients, plain_mean)

    def always_weighted(grads, sizes, reduction="mean"):  # a summed loss must not be divided
        return combine_gradients(grads, sizes, "mean")

    assert "smallest failing one" in fails(checks.check_combine_gradients, always_weighted)
