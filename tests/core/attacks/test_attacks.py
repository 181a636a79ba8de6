"""Correctness of the attack library on a linear model and on a model trained on ISBI."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from napari_unet.core import StopFlag, run_to_completion
from napari_unet.core.attacks import (
    DAG,
    FGSM,
    PGD,
    CarliniWagnerL2,
    SegPGD,
    make_attack,
)
from napari_unet.core.training.adversarial_training import AdversarialBatch


class Linear(nn.Module):
    """A 1x1 convolution: logits are an affine function of each pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([[[[1.5]]], [[[-2.0]]]]))
            self.conv.bias.copy_(torch.tensor([0.1, -0.3]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_fgsm_on_linear_model_is_eps_times_sign_of_hand_gradient():
    rng = np.random.default_rng(0)
    image = rng.normal(0.0, 1.0, (24, 20)).astype(np.float32)
    net = Linear()
    eps = 0.05
    result = FGSM(eps)(net, image, device="cpu")
    # by hand: logits z_k = w_k x + b_k; CE against the clean prediction y, mean over N pixels:
    # dL/dx = sum_k (softmax_k - [k == y]) w_k / N
    w, b = np.array([1.5, -2.0]), np.array([0.1, -0.3])
    z = image[..., None] * w + b
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    y = z.argmax(-1)
    onehot = np.eye(2)[y]
    grad = ((p - onehot) * w).sum(-1) / image.size
    expected = np.clip(image + eps * np.sign(grad), image.min(), image.max())
    np.testing.assert_allclose(result.adversarial, expected, atol=1e-6)
    assert result.adversarial.dtype == np.float32
    np.testing.assert_array_equal(result.clean_prediction, y + 1)


def test_attack_restores_mode_and_leaves_grad_untouched(isbi_model, isbi_test_slice):
    image, _ = isbi_test_slice
    net = isbi_model.network
    net.train()
    net.inc[0][1].eval()  # one module in another mode: restored module by module
    for p in net.parameters():
        p.grad = None
    PGD(4 / 255, 2)(isbi_model, image[:64, :64], device="cpu")
    assert net.training and not net.inc[0][1].training
    assert all(p.grad is None for p in net.parameters())
    net.eval()


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_pgd_stays_in_eps_ball_and_valid_range(isbi_model, isbi_test_slice, dtype):
    image = isbi_test_slice[0].astype(dtype)
    if dtype == np.float32:
        image = image / 255.0 * 3.0 - 1.0  # another value range
    eps = 8 / 255
    result = PGD(eps, 5)(isbi_model, image, device="cpu")
    eps_raw = result.metrics.eps_raw[0]
    diff = result.adversarial.astype(np.float64) - image.astype(np.float64)
    assert result.adversarial.dtype == image.dtype
    assert np.abs(diff).max() <= eps_raw * (1 + 1e-5)
    assert np.abs(diff).max() > 0.5 * eps_raw if dtype == np.float32 else np.abs(diff).max() >= 1
    lo, hi = (0, 255) if dtype == np.uint8 else (image.min(), image.max())
    assert result.adversarial.min() >= lo and result.adversarial.max() <= hi
    np.testing.assert_allclose(result.perturbation, diff, atol=1e-5)
    lo_n, hi_n = isbi_model.normalization.statistics(image[None])
    assert eps_raw == pytest.approx(eps * float(hi_n[0] - lo_n[0]), rel=1e-5)


def test_pgd_at_least_as_strong_as_fgsm_on_average(isbi_model, isbi_test_slice):
    image, _ = isbi_test_slice
    fgsm, pgd = [], []
    for eps in (2 / 255, 8 / 255):
        fgsm.append(FGSM(eps)(isbi_model, image, keep_float=True, device="cpu").metrics)
        pgd.append(PGD(eps, 10)(isbi_model, image, keep_float=True, device="cpu").metrics)
    assert np.mean([m.dice_adversarial for m in pgd]) <= np.mean([m.dice_adversarial for m in fgsm])
    assert np.mean([m.fraction_changed for m in pgd]) >= np.mean([m.fraction_changed for m in fgsm])


@pytest.mark.parametrize("name", ["fgsm", "pgd", "segpgd", "dag", "cw"])
def test_every_attack_lowers_dice_against_truth(isbi_model, isbi_test_slice, name):
    image, truth = isbi_test_slice
    attack = make_attack(name, 8 / 255, steps=30 if name == "cw" else None)
    if name == "cw":
        attack.c = 10.0
        attack.learning_rate = 0.05
    result = attack(isbi_model, image, labels=truth, keep_float=True, device="cpu")
    m = result.metrics
    assert 0.5 < m.dice_clean <= 1.0  # a model that segments
    assert m.dice_adversarial < m.dice_clean - 0.01
    assert result.changed.mean() > 0.005


def test_cw_needs_smaller_l2_than_pgd_for_the_same_damage(isbi_model, isbi_test_slice):
    # damage = fraction of pixels whose class changed vs the clean prediction, for both
    image, _ = isbi_test_slice
    pgd = PGD(2 / 255, 10)(isbi_model, image, keep_float=True, device="cpu").metrics
    assert pgd.fraction_changed > 0.005
    cw = CarliniWagnerL2(
        None, c=1e-3, steps=150, learning_rate=0.005, min_fooled=pgd.fraction_changed
    )
    m = cw(isbi_model, image, keep_float=True, device="cpu").metrics
    assert m.fraction_changed >= pgd.fraction_changed
    assert m.l2 < pgd.l2


def test_class_balance_gives_every_present_class_the_same_total_weight():
    from napari_unet.core.attacks.objectives import class_balance

    targets = torch.tensor([[[0, 0, 0, 0, 0, 0, 1, 1, -1]], [[2, 2, 2, 2, 2, 2, 2, 2, 2]]])
    w = class_balance(targets, 3)
    assert w[0, 0, 8] == 0  # not counted
    assert torch.isclose(w[0][targets[0] == 0].sum(), w[0][targets[0] == 1].sum())
    assert torch.isclose(w[0, 0, :8].mean(), torch.tensor(1.0))
    assert torch.allclose(w[1], torch.ones(1, 9))  # one class: plain average


@pytest.mark.parametrize("eps", [1 / 255, 2 / 255, 4 / 255, 8 / 255])
def test_segmentation_attack_does_more_damage_than_ce_pgd(isbi_model, isbi_test_slice, eps):
    # Same steps, eps, step size and random start (seed 0); Dice vs the clean prediction.
    # Measured on this model: CE-PGD 0.9913 / 0.9787 / 0.9436 / 0.8497, SegPGD (class
    # balanced, the default) 0.9891 / 0.9760 / 0.9407 / 0.8423.
    image, _ = isbi_test_slice
    ce = PGD(eps, 10, seed=0)(isbi_model, image, keep_float=True, device="cpu").metrics
    seg = SegPGD(eps, 10, seed=0)(isbi_model, image, keep_float=True, device="cpu").metrics
    assert seg.dice_adversarial < ce.dice_adversarial < 1.0


def test_targeted_attack_moves_pixels_towards_the_target(isbi_model, isbi_test_slice):
    image, _ = isbi_test_slice
    result = PGD(8 / 255, 10, target=1)(isbi_model, image, keep_float=True, device="cpu")
    before = (result.clean_prediction == 1).mean()
    after = (result.adversarial_prediction == 1).mean()
    assert after > before + 0.01
    # the pixels that changed went to the target class
    assert (result.adversarial_prediction[result.changed] == 1).mean() > 0.9


def test_region_masks_limit_perturbation_and_loss(isbi_model, isbi_test_slice):
    image, _ = isbi_test_slice
    region = np.zeros(image.shape, bool)
    region[32:96, 32:96] = True
    result = SegPGD(8 / 255, 5)(
        isbi_model, image, perturb_mask=region, loss_mask=region, keep_float=True, device="cpu"
    )
    assert np.abs(result.perturbation[~region]).max() == 0
    assert np.abs(result.perturbation[region]).max() > 0
    assert result.metrics.pixels == region.sum()


def test_stop_returns_partial_result(isbi_model, isbi_test_slice):
    image = np.stack([isbi_test_slice[0]] * 3)  # 3 slices
    stop = StopFlag()
    seen = []

    def on_event(ev):
        seen.append(ev)
        if ev.unit >= 1:
            stop.request_stop()

    result = run_to_completion(
        PGD(4 / 255, 3).run(isbi_model, image, stop=stop, device="cpu"), on_event
    )
    assert result.stopped
    assert result.completed.tolist() == [True, False, False]
    np.testing.assert_array_equal(result.adversarial[1:], image[1:])
    assert (result.adversarial_prediction[1:] == 0).all()


def test_bad_target_is_a_user_error(isbi_model, isbi_test_slice):
    from napari_unet.core import UserInputError

    with pytest.raises(UserInputError, match="Target class 5"):
        FGSM(0.01, target=5)(isbi_model, isbi_test_slice[0])


def test_adversarial_batch_stays_in_ball_and_restores_mode(isbi_model):
    net = isbi_model.copy().network.train()
    x = torch.rand(2, 1, 32, 32)
    y = torch.randint(0, 2, (2, 32, 32))
    y[:, :4] = -1
    x_adv = AdversarialBatch(0.03, 2).perturb(net, x, y, torch.ones(2))
    assert net.training and not x_adv.requires_grad
    assert (x_adv - x).abs().max() <= 0.03 + 1e-6
    assert (x_adv - x).abs().max() > 0.01
    assert all(p.grad is None for p in net.parameters())


def test_dag_and_segpgd_are_linf_attacks():
    assert DAG(0.1).iterations == 20 and SegPGD(0.1).iterations == 10
    with pytest.raises(ValueError):
        make_attack("nope", 0.1)
