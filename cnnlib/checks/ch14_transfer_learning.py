"""Chapter 14's checks: a Lite0 with only its last stage, head and classifier trainable; the transfer
recipe on a folder of one's own (audit, frozen model, a History that training produced).

The references (the pretrained weights, the expected trainable parameters, the model's own evaluation)
are computed here, so the notebook's check cells hold none.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .core import _not_implemented


def _imagenet_lite0() -> nn.Module:
    from ..models import efficientnet_lite0

    return efficientnet_lite0(weights="imagenet")


def _pretrained_problem(name: str, model: nn.Module, fresh: nn.Module) -> str | None:
    """Which tensor of ``model`` (classifier apart) differs from the ImageNet weights, or None."""
    ours = model.state_dict()
    for key, value in fresh.state_dict().items():
        if key.startswith("classifier.") or key.endswith("num_batches_tracked"):
            continue
        if key not in ours:
            return f"{name} has no {key}: start from efficientnet_lite0(weights='imagenet')"
        if not torch.equal(ours[key].detach().cpu(), value):
            return (f"{name}.{key} differs from the ImageNet weights: start from efficientnet_lite0(weights='imagenet')"
                    " and do not train the frozen part")
    return None


def _classifier_problem(name: str, model) -> str | None:
    classifier = getattr(model, "classifier", None)
    if not isinstance(classifier, nn.Linear) or (classifier.in_features, classifier.out_features) != (1280, 2):
        return f"{name}.classifier should be a new nn.Linear(1280, 2), got {classifier!r}"
    return None


def check_partial_unfreeze(partial) -> bool:
    """Grade ``partial``: Lite0 with ImageNet weights and a 2-class classifier, in which exactly the last stage,
    the head convolution and the classifier are trainable."""
    from ..inspect import count_params

    name = "partial"
    if partial is None or partial is Ellipsis:
        raise _not_implemented(name)
    if not isinstance(partial, nn.Module) or not hasattr(partial, "stages"):
        raise AssertionError(f"{name} should be an EfficientNet-Lite0 model, got {type(partial).__name__}")
    problem = _classifier_problem(name, partial) or _pretrained_problem(name, partial, _imagenet_lite0())
    if problem:
        raise AssertionError(problem)
    last = f"stages.{len(partial.stages) - 1}."
    for key, p in partial.named_parameters():
        should_train = key.startswith((last, "head.", "classifier."))
        if p.requires_grad != should_train:
            state = "trains" if p.requires_grad else "is frozen"
            raise AssertionError(f"{name}.{key} {state}: only the last stage, the head and the classifier should train")
    got = count_params(partial, trainable_only=True)
    print(f"✓ {name} is right: {got:,} trainable parameters ({got / count_params(partial):.0%} of the model): "
          "the last stage and the head hold a large share")
    return True


def check_transfer_recipe(my_audit, my_model, my_history, root, cache_size: int, eval_transform) -> bool:
    """Grade exercise 2: the audit of ``root`` (8 cat, 8 coffee images), a frozen ImageNet Lite0 with a new
    trained 2-class head, and a ``History`` produced by training it: its losses move, and its last validation
    loss and accuracy are what ``my_model`` scores now on ``root`` (cached at ``cache_size``, ``eval_transform``).
    """
    from ..train import History, evaluate
    from ..transfer import ImageFolderAudit, TransformedBatches, image_folder_tensors

    missing = [n for n, v in (("my_audit", my_audit), ("my_model", my_model), ("my_history", my_history)) if v is None]
    if missing:
        raise AssertionError(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not implemented yet: set "
                             "the answers, run their cell, then run this check again.")
    if not isinstance(my_audit, ImageFolderAudit):
        raise AssertionError(f"my_audit should be what audit_image_folder returns, got {type(my_audit).__name__}")
    if Path(my_audit.root).resolve() != Path(root).resolve():
        raise AssertionError(f"my_audit audits {my_audit.root}, not the exercise's folder {root}")
    if not (my_audit.ok and my_audit.counts == {"cat": 8, "coffee": 8}):
        raise AssertionError(f"my_audit is not right yet: the folder should hold 8 readable cat and 8 readable coffee "
                             f"images and nothing else; the audit says:\n{my_audit}")
    if not isinstance(my_model, nn.Module):
        raise AssertionError(f"my_model should be the trained model, got {type(my_model).__name__}")
    problem = _classifier_problem("my_model", my_model)
    if problem:
        raise AssertionError(problem)
    trainable = [k for k, p in my_model.named_parameters() if p.requires_grad]
    if any(not k.startswith("classifier.") for k in trainable):
        raise AssertionError(f"my_model.{next(k for k in trainable if not k.startswith('classifier.'))} trains: only "
                             "the new head should (freeze the feature extractor with freeze)")
    problem = _pretrained_problem("my_model", my_model, _imagenet_lite0())
    if problem:
        raise AssertionError(problem + " (a frozen feature extractor keeps them, batch-norm statistics included)")
    if not isinstance(my_history, History):
        raise AssertionError(f"my_history should be the History that cnnlib.fit returns, got {type(my_history).__name__}")
    n = len(my_history)
    if n < 2 or len(my_history.val_loss) != n or len(my_history.val_acc) != n:
        raise AssertionError(f"my_history should record at least 2 epochs with validation, got {n} epoch(s) and "
                             f"{len(my_history.val_loss)} validation result(s): pass validation batches to fit")
    losses = torch.tensor(my_history.train_loss + my_history.val_loss, dtype=torch.float64)
    if not bool(torch.isfinite(losses).all()) or len(set(my_history.train_loss)) < n:
        raise AssertionError("my_history's losses should be finite and its training loss should change from epoch "
                             "to epoch: it should come from training my_model")
    val = TransformedBatches(image_folder_tensors(root, cache_size, batch_size=8), eval_transform)
    loss, acc = evaluate(my_model, val)
    if abs(loss - my_history.val_loss[-1]) > 1e-4 * max(1.0, abs(loss)) or abs(acc - my_history.val_acc[-1]) > 1e-6:
        raise AssertionError("my_history's last validation loss and accuracy are not what my_model scores on the "
                             "folder now (cached at CACHE_SIZE, with eval_transform): my_history should come from "
                             "training my_model, validated on these images")
    if acc < 0.75:
        raise AssertionError(f"my_model's accuracy is {acc:.2f}, below 0.75: is the head really training?")
    print(f"✓ my_audit, my_model, my_history: {sum(my_audit.counts.values())} images, accuracy {acc:.2f} (measured on "
          "the training images themselves: a real project needs a separate validation folder)")
    return True
