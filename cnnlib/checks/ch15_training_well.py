"""Chapter 15's checks: the one-cycle schedule, random crop with padding, the EMA update of weight averaging."""

from __future__ import annotations

import functools
import inspect
import textwrap
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from .core import Case, _guarded, _raised, _randint, check


#: Any torch scheduler (they all start in LRScheduler.__init__) would compute the schedule for the learner.
NO_SCHEDULERS = ("torch.optim.lr_scheduler.LRScheduler.__init__", "torch.optim.lr_scheduler.OneCycleLR.get_lr")


def check_one_cycle_lr(fn: Callable, n_random: int = 0, seed: int = 0, forbid: Iterable[str] = NO_SCHEDULERS) -> bool:
    """Check ``fn(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4) -> float``
    against ``torch.optim.lr_scheduler.OneCycleLR`` (cosine annealing, two phases), at every step;
    ``n_random`` more settings are drawn with ``seed``. Creating a torch scheduler is refused.
    """
    from torch.optim import lr_scheduler

    one_cycle = lr_scheduler.OneCycleLR  # the reference's; refused while the learner's code runs

    def reference(total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
        schedule = one_cycle(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                             div_factor=div_factor, final_div_factor=final_div_factor, cycle_momentum=False)
        lrs = []
        for _ in range(total_steps):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return torch.tensor(lrs, dtype=torch.float64)

    def every_step(total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        return torch.tensor([float(fn(step, total_steps, max_lr, pct_start=pct_start, div_factor=div_factor,
                                      final_div_factor=final_div_factor)) for step in range(total_steps)],
                            dtype=torch.float64)

    every_step.__signature__ = inspect.signature(reference)
    cases = [Case((4, 1.0), {"pct_start": 0.5}), Case((10, 1.0)), Case((10, 0.1), {"div_factor": 10.0}),
             Case((20, 2.0), {"pct_start": 0.25, "final_div_factor": 100.0}),
             Case((100, 0.4), {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4}),
             Case((37, 0.05), {"pct_start": 0.1, "div_factor": 5.0, "final_div_factor": 10.0})]
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_random):
        total = _randint(g, 10, 200)
        cases.append(Case((total, float(torch.rand(1, generator=g)) + 0.01),
                          {"pct_start": _randint(g, 2, total // 2) / total, "div_factor": float(_randint(g, 2, 50)),
                           "final_div_factor": float(10 ** _randint(g, 0, 4))}))
    return check(every_step, reference, cases, getattr(fn, "__name__", "one_cycle_lr") + " (at every step)",
                 atol=1e-9, rtol=1e-6, forbid=forbid)  # check runs every reference before the guard goes on


def _crop_shift_matches(X: torch.Tensor, out: torch.Tensor, padding: int) -> tuple[torch.Tensor, list]:
    """For each example, which shifts (dy, dx) in [-p, p]^2 the output equals (a shifted copy, zeros filling)."""
    H, W = X.shape[-2:]
    padded = F.pad(X, (padding,) * 4)
    shifts = [(dy, dx) for dy in range(-padding, padding + 1) for dx in range(-padding, padding + 1)]
    matches = torch.stack([(padded[..., padding + dy:padding + dy + H, padding + dx:padding + dx + W] == out)
                           .flatten(1).all(1) for dy, dx in shifts], dim=1)
    return matches, shifts


def check_random_crop(fn: Callable, seed: int = 0, forbid: Iterable[str] = ("cnnlib.augment",)) -> bool:
    """Check ``fn(X, padding)``, random crop with zero padding on a batch (N, C, H, W).

    Every output image must be its input shifted by some (dy, dx) in [-padding, padding] with zeros filling
    (so it never reads outside the padded image), each example must draw its own shift, and over a
    batch every shift must occur. Calling ``cnnlib.augment`` (its random_crop, Augment) is refused.
    """
    name = getattr(fn, "__name__", "random_crop")
    configs = [(1, 1, 3, 3, 0), (200, 1, 3, 3, 1), (400, 2, 4, 5, 2), (600, 1, 6, 6, 3)]
    forbid = tuple(forbid)
    g = torch.Generator().manual_seed(seed)
    for N, C, H, W, padding in configs:
        X = torch.randperm(N * C * H * W, generator=g).float().add(1).reshape(N, C, H, W)  # all distinct, none 0
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        where = f"{name}(X, padding={padding}) with X of shape {(N, C, H, W)} (distinct nonzero values)"
        [(out, error)] = _guarded([functools.partial(fn, X.clone(), padding)], forbid, name)  # refusals raise here
        if error is not None:
            raise _raised(name, error, f"{where} raised")
        if not isinstance(out, torch.Tensor) or out.shape != X.shape:
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise AssertionError(f"{where} should return a tensor of shape {(N, C, H, W)}, got {got}")
        matches, shifts = _crop_shift_matches(X, out, padding)
        bad = (~matches.any(1)).nonzero()
        if len(bad):
            i = int(bad[0])
            raise AssertionError(
                f"{where}: output image {i} is not its input shifted by at most {padding} pixels with zeros "
                f"filling in (did it read outside the padded image, or mix examples?).\nInput image {i}:\n"
                f"{textwrap.indent(str(X[i]), '    ')}\nYour output:\n{textwrap.indent(str(out[i]), '    ')}")
        seen = {shifts[j] for j in matches.float().argmax(1).tolist()}
        missing = sorted(set(shifts) - seen)
        if missing:
            raise AssertionError(f"{where}: over {N} examples the shifts {missing[:5]} never occurred; each "
                                 f"example should draw dy and dx uniformly from -{padding}..{padding} on its own")
    print(f"✓ {name}: every output is a shifted copy with zeros filling, every shift occurs, "
          "each example draws its own")
    return True


#: The finished EMA updates: torch's swa_utils and cnnlib.averaging.
NO_AVERAGING = ("torch.optim.swa_utils.get_ema_multi_avg_fn", "torch.optim.swa_utils.AveragedModel", "cnnlib.averaging")


def check_ema_update(fn: Callable, n_random: int = 0, seed: int = 0, forbid: Iterable[str] = NO_AVERAGING) -> bool:
    """Check ``fn(averaged, current, decay)``, one in-place EMA step ``a <- decay * a + (1 - decay) * w`` over two
    lists of tensors, against ``torch.optim.swa_utils.get_ema_multi_avg_fn``: each case runs several steps in a
    row from the same start. ``n_random`` more cases are drawn with ``seed``; swa_utils and cnnlib.averaging
    are refused.
    """
    from torch.optim.swa_utils import get_ema_multi_avg_fn

    def reference(start, currents, decay):
        averaged = [t.clone() for t in start]
        for current in currents:
            get_ema_multi_avg_fn(decay)(averaged, [c.clone() for c in current], None)
        return tuple(averaged)

    def in_place(start, currents, decay):
        averaged = [t.clone() for t in start]
        for current in currents:
            fn(averaged, [c.clone() for c in current], decay)  # what it returns is ignored: a changes in place
        return tuple(averaged)

    in_place.__signature__ = inspect.signature(reference)
    g = torch.Generator().manual_seed(seed)

    def case(shapes, steps, decay):
        start = [torch.randn(shape, generator=g) for shape in shapes]
        return Case(([t for t in start], [[torch.randn(shape, generator=g) for shape in shapes]
                                          for _ in range(steps)], decay))

    cases = [case([(1,)], 1, 0.5), case([(2,)], 1, 0.9), case([(2,)], 1, 0.0), case([(3,), (2, 2)], 2, 0.75),
             case([(2, 3), (4,)], 5, 0.99), case([(4, 4), (4,), (2, 1, 3)], 10, 0.9)]
    for _ in range(n_random):
        shapes = [tuple(_randint(g, 1, 4) for _ in range(_randint(g, 1, 3))) for _ in range(_randint(g, 1, 3))]
        cases.append(case(shapes, _randint(g, 1, 8), round(float(torch.rand(1, generator=g)), 3)))
    if fn is None or fn is Ellipsis:
        return check(fn, reference, cases, "ema_update")
    in_place.__name__ = getattr(fn, "__name__", "ema_update")
    return check(in_place, reference, cases, in_place.__name__ + " (several steps in place)", atol=1e-6, rtol=1e-5,
                 forbid=forbid)
