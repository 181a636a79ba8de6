"""Natural image perturbations in pure PyTorch, differentiable with respect to the image.

Every function takes a float batch ``x`` of shape ``(B, C, Y, X)`` or ``(B, C, Z, Y, X)`` in
the model's normalized intensity units and returns a tensor of the same shape and dtype.
Each strength is a Python float (the same for the whole batch) or a ``(B,)`` tensor (one per
sample). A sample at its neutral strength (rotation 0, zoom 1, sigma 0, gamma 1, factor 1,
peak ``inf``) comes back *exactly* unchanged, and gradients flow through every function to
``x`` (noise is additive, so its gradient is the identity).

Geometry and resolution act in the Y-X plane: in a volume every Z plane is rotated, zoomed,
blurred and resampled the same way and Z is left alone (microscopes change lateral
magnification and focus, not the Z step). Pixel units throughout; the centre of a plane of
``N`` pixels is at ``(N - 1) / 2``.

Images and labels share one geometry through :func:`affine_grid_for` and :func:`warp`::

    grid = affine_grid_for(x.shape, degrees=12.0, factor=0.9)
    x_t = warp(x, grid)                                         # bilinear, reflecting borders
    y_t = warp(labels, grid, mode="nearest", padding="zeros")   # integer labels stay integer
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Strength = float | torch.Tensor

__all__ = [
    "Strength",
    "affine_grid_for",
    "downsample_upsample",
    "gamma",
    "gaussian_blur",
    "gaussian_kernel",
    "gaussian_noise",
    "poisson_noise",
    "rotate",
    "warp",
    "zoom",
]


def _per_sample(value: Strength, batch: int, name: str) -> torch.Tensor:
    """``value`` as a float64 CPU tensor of shape ``(B,)``; rejects NaN."""
    t = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    if t.ndim == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(
            f"{name} must be a float or a ({batch},) tensor, got shape {tuple(t.shape)}."
        )
    if torch.isnan(t).any():
        raise ValueError(f"{name} must be a number, got NaN.")
    return t


def _check_image(x: torch.Tensor) -> int:
    """Number of spatial dimensions of a ``(B, C, Y, X)`` or ``(B, C, Z, Y, X)`` batch."""
    if x.ndim not in (4, 5):
        raise ValueError(f"expected a (B, C, Y, X) or (B, C, Z, Y, X) tensor, got {x.ndim} dims.")
    return x.ndim - 2


def _keep_neutral(out: torch.Tensor, x: torch.Tensor, neutral: torch.Tensor) -> torch.Tensor:
    """``out`` with the samples flagged in ``neutral`` (``(B,)`` bool) replaced by ``x``."""
    if not bool(neutral.any()):
        return out
    flags = neutral.to(x.device).view(-1, *[1] * (x.ndim - 1))
    return torch.where(flags, x, out)


# ---------------------------------------------------------------------------- geometry
def _identity_grid(shape: tuple[int, ...], device: torch.device | None = None) -> torch.Tensor:
    """Sampling grid that reads every pixel where it is: ``(1, *S, dims)``, align_corners=True.

    The last axis is in grid_sample's order (x, y[, z]), normalized to [-1, 1].
    """
    axes = [
        torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
        if n > 1
        else torch.zeros(1, dtype=torch.float64)
        for n in shape
    ]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij")[::-1], dim=-1)
    return grid.to(device=device, dtype=torch.float32).unsqueeze(0)


def affine_grid_for(
    shape: tuple[int, ...] | torch.Size,
    degrees: Strength = 0.0,
    factor: Strength = 1.0,
    *,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Sampling grid of a rotation by ``degrees`` and a zoom by ``factor`` about the centre.

    Positive degrees turn the content counter-clockwise as displayed (Y down), i.e. from +X
    towards -Y; ``factor > 1`` magnifies (a square of side ``s`` becomes ``factor * s``).
    Both act in the Y-X plane. Samples with degrees 0 and factor 1 get the exact identity
    grid, which :func:`warp` recognises and returns unchanged.

    Shape:
        - shape: ``(B, C, Y, X)`` or ``(B, C, Z, Y, X)``
        - degrees, factor: float or ``(B,)``; factor must be > 0
        - returns: ``(B, Y, X, 2)`` or ``(B, Z, Y, X, 3)`` float32 for :func:`warp`
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) not in (4, 5):
        raise ValueError(f"shape must be (B, C, Y, X) or (B, C, Z, Y, X), got {shape}.")
    b, spatial = shape[0], shape[2:]
    deg = _per_sample(degrees, b, "degrees")
    fac = _per_sample(factor, b, "factor")
    if not bool((fac > 0).all()) or not bool(torch.isfinite(fac).all()):
        raise ValueError(f"zoom factor must be a finite number > 0, got {fac.tolist()}.")
    if not bool(torch.isfinite(deg).all()):
        raise ValueError(f"degrees must be finite, got {deg.tolist()}.")
    ny, nx = spatial[-2], spatial[-1]
    identity = _identity_grid(spatial)
    # output pixel (y, x) reads the source at centre + R(-theta) (p - centre) / factor
    cy, cx = (ny - 1) / 2.0, (nx - 1) / 2.0
    yy, xx = torch.meshgrid(
        torch.arange(ny, dtype=torch.float64) - cy,
        torch.arange(nx, dtype=torch.float64) - cx,
        indexing="ij",
    )
    theta = torch.deg2rad(deg).view(-1, 1, 1)
    cos, sin = torch.cos(theta), torch.sin(theta)
    scale = fac.view(-1, 1, 1)
    src_x = (cos * xx - sin * yy) / scale + cx
    src_y = (sin * xx + cos * yy) / scale + cy
    norm_x = src_x * (2.0 / max(nx - 1, 1)) - (1.0 if nx > 1 else 0.0)
    norm_y = src_y * (2.0 / max(ny - 1, 1)) - (1.0 if ny > 1 else 0.0)
    plane = torch.stack([norm_x, norm_y], dim=-1).float()  # (B, Y, X, 2)
    if len(spatial) == 3:
        z = identity[..., 2:]  # (1, Z, Y, X, 1)
        plane = plane.unsqueeze(1).expand(b, spatial[0], ny, nx, 2)
        grid = torch.cat([plane, z.expand(b, *spatial, 1)], dim=-1)
    else:
        grid = plane
    neutral = (deg == 0) & (fac == 1)
    flags = neutral.view(-1, *[1] * (grid.ndim - 1))
    grid = torch.where(flags, identity.expand_as(grid), grid)
    return grid.to(device) if device is not None else grid


def warp(
    x: torch.Tensor, grid: torch.Tensor, mode: str = "bilinear", padding: str = "reflection"
) -> torch.Tensor:
    """Resample ``x`` on ``grid`` (from :func:`affine_grid_for`).

    ``mode``: ``"bilinear"`` (images) or ``"nearest"`` (labels); ``padding``: ``"reflection"``,
    ``"border"`` or ``"zeros"`` (what lies outside the image). Integer ``x`` (labels) is
    sampled as float and cast back, so class values survive ``mode="nearest"``. Samples
    whose grid is the identity are returned exactly.

    Shape:
        - x: ``(B, C, *S)``; grid: ``(B, *S, dims)``; returns ``(B, C, *S)``, dtype of ``x``
    """
    dims = _check_image(x)
    if (
        grid.shape[0] != x.shape[0]
        or tuple(grid.shape[1:-1]) != tuple(x.shape[2:])
        or grid.shape[-1] != dims
    ):
        raise ValueError(f"grid {tuple(grid.shape)} does not fit the batch {tuple(x.shape)}.")
    grid = grid.to(x.device)
    source = x if x.is_floating_point() else x.float()
    out = F.grid_sample(
        source, grid.to(source.dtype), mode=mode, padding_mode=padding, align_corners=True
    )
    if not x.is_floating_point():
        out = out.round().to(x.dtype)
    identity = _identity_grid(tuple(x.shape[2:]), grid.device)
    neutral = (grid == identity).flatten(1).all(1).cpu()
    return _keep_neutral(out, x, neutral)


def rotate(
    x: torch.Tensor, degrees: Strength, *, mode: str = "bilinear", padding: str = "reflection"
) -> torch.Tensor:
    """Rotate each Y-X plane by ``degrees`` about its centre (counter-clockwise as displayed).

    Shape: x ``(B, C, *S)`` -> ``(B, C, *S)``; degrees float or ``(B,)``.
    """
    _check_image(x)
    return warp(x, affine_grid_for(x.shape, degrees, 1.0), mode, padding)


def zoom(
    x: torch.Tensor, factor: Strength, *, mode: str = "bilinear", padding: str = "reflection"
) -> torch.Tensor:
    """Zoom each Y-X plane by ``factor`` about its centre (> 1 magnifies, 1 = none, > 0).

    Shape: x ``(B, C, *S)`` -> ``(B, C, *S)``; factor float or ``(B,)``.
    """
    _check_image(x)
    return warp(x, affine_grid_for(x.shape, 0.0, factor), mode, padding)


# ------------------------------------------------------------------------ resolution
def gaussian_kernel(sigma: float, radius: int) -> torch.Tensor:
    """Normalized 1-D Gaussian of ``sigma`` pixels on ``2 * radius + 1`` taps, float64."""
    taps = torch.arange(-radius, radius + 1, dtype=torch.float64)
    if sigma <= 0:
        return (taps == 0).double()
    k = torch.exp(-0.5 * (taps / sigma) ** 2)
    return k / k.sum()


def _pad_symmetric(x: torch.Tensor, pad: int, dim: int) -> torch.Tensor:
    """Pad ``dim`` by ``pad`` on both sides with its mirror image, edge pixel repeated.

    This is scipy.ndimage's ``mode="reflect"`` (``d c b a | a b c d | d c b a``); pads
    longer than the axis repeat the mirroring.
    """
    while pad > 0:
        step = min(pad, x.shape[dim])
        head = x.narrow(dim, 0, step).flip(dim)
        tail = x.narrow(dim, x.shape[dim] - step, step).flip(dim)
        x = torch.cat([head, x, tail], dim=dim)
        pad -= step
    return x


def _convolve_axis(x: torch.Tensor, kernels: torch.Tensor, dim: int) -> torch.Tensor:
    """Convolve spatial axis ``dim`` of ``x`` with one 1-D kernel per sample.

    Shape: x ``(B, C, *S)``; kernels ``(B, K)`` with K odd; returns ``(B, C, *S)``.
    """
    b, c = x.shape[:2]
    radius = kernels.shape[1] // 2
    moved = _pad_symmetric(x.movedim(dim, -1), radius, -1)
    rest = moved.shape[2:-1]
    flat = moved.reshape(1, b * c, -1, moved.shape[-1])  # (1, B*C, rows, X + 2r)
    weight = kernels.to(x.dtype).repeat_interleave(c, 0).view(b * c, 1, 1, -1)
    out = F.conv2d(flat, weight.to(x.device), groups=b * c)
    return out.reshape(b, c, *rest, out.shape[-1]).movedim(-1, dim)


def gaussian_blur(x: torch.Tensor, sigma: Strength, *, truncate: float = 4.0) -> torch.Tensor:
    """Separable Gaussian blur of each Y-X plane, ``sigma`` in pixels (0 = none).

    Like ``scipy.ndimage.gaussian_filter(..., sigma, mode="reflect", truncate=4.0)`` on the
    last two axes: kernel radius ``ceil(truncate * sigma)``, mirrored borders.

    Shape: x ``(B, C, *S)`` -> ``(B, C, *S)``; sigma float or ``(B,)``, >= 0.
    """
    _check_image(x)
    sig = _per_sample(sigma, x.shape[0], "sigma")
    if not bool((sig >= 0).all()) or not bool(torch.isfinite(sig).all()):
        raise ValueError(f"blur sigma must be a finite number >= 0 pixels, got {sig.tolist()}.")
    if not bool((sig > 0).any()):
        return x
    radius = max(1, int(math.ceil(truncate * float(sig.max()))))
    kernels = torch.stack([gaussian_kernel(float(s), radius) for s in sig])
    out = _convolve_axis(_convolve_axis(x, kernels, x.ndim - 2), kernels, x.ndim - 1)
    return _keep_neutral(out, x, sig == 0)


def downsample_upsample(x: torch.Tensor, factor: Strength) -> torch.Tensor:
    """Simulated low resolution: average each Y-X plane down by ``factor``, then back up.

    Down: area averaging to ``round(N / factor)`` pixels per axis (at least 1); up: bilinear
    to the original size. ``factor`` >= 1 (1 = none).

    Shape: x ``(B, C, *S)`` -> ``(B, C, *S)``; factor float or ``(B,)``.
    """
    dims = _check_image(x)
    fac = _per_sample(factor, x.shape[0], "factor")
    if not bool((fac >= 1).all()) or not bool(torch.isfinite(fac).all()):
        raise ValueError(f"resolution factor must be a finite number >= 1, got {fac.tolist()}.")
    ny, nx = x.shape[-2:]
    rows = []
    for i, f in enumerate(fac.tolist()):
        sample = x[i : i + 1]
        if f == 1:
            rows.append(sample)
            continue
        planes = sample if dims == 2 else sample.movedim(2, 1).flatten(0, 1)  # (Z, C, Y, X)
        small = (max(1, round(ny / f)), max(1, round(nx / f)))
        low = F.interpolate(planes, size=small, mode="area")
        up = F.interpolate(low, size=(ny, nx), mode="bilinear", align_corners=False)
        rows.append(up if dims == 2 else up.unsqueeze(0).movedim(1, 2))
    return torch.cat(rows, 0)


# --------------------------------------------------------------------- noise, contrast
def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    device = generator.device if generator is not None else x.device
    return torch.randn(x.shape, generator=generator, device=device, dtype=x.dtype).to(x.device)


def gaussian_noise(
    x: torch.Tensor, sigma: Strength, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Add white Gaussian noise of standard deviation ``sigma`` (normalized units, >= 0).

    Shape: x ``(B, C, *S)`` -> ``(B, C, *S)``; sigma float or ``(B,)``.
    """
    _check_image(x)
    sig = _per_sample(sigma, x.shape[0], "sigma")
    if not bool((sig >= 0).all()) or not bool(torch.isfinite(sig).all()):
        raise ValueError(f"noise sigma must be a finite number >= 0, got {sig.tolist()}.")
    if not bool((sig > 0).any()):
        return x
    scale = sig.to(device=x.device, dtype=x.dtype).view(-1, *[1] * (x.ndim - 1))
    return _keep_neutral(x + scale * _randn_like(x, generator), x, sig == 0)


def poisson_noise(
    x: torch.Tensor, peak: Strength, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Shot noise: a normalized intensity of 1 collects ``peak`` photons (``inf`` = none).

    The noise ``(Poisson(peak * max(x, 0)) - peak * max(x, 0)) / peak`` is added to ``x``
    (variance ``max(x, 0) / peak``; values <= 0 get none). It is drawn without gradient and
    added, so the gradient with respect to ``x`` is the identity.

    Shape: x ``(B, C, *S)`` -> ``(B, C, *S)``; peak float or ``(B,)``, > 0.
    """
    _check_image(x)
    pk = _per_sample(peak, x.shape[0], "peak")
    if not bool((pk > 0).all()):
        raise ValueError(f"photon peak must be > 0 (inf = no noise), got {pk.tolist()}.")
    finite = torch.isfinite(pk)
    if not bool(finite.any()):
        return x
    with torch.no_grad():
        p = torch.where(finite, pk, torch.ones_like(pk)).to(x.device, x.dtype)
        p = p.view(-1, *[1] * (x.ndim - 1))
        rate = x.detach().clamp(min=0) * p
        device = generator.device if generator is not None else x.device
        counts = torch.poisson(rate.to(device), generator=generator).to(x.device)
        noise = (counts - rate) / p
    return _keep_neutral(x + noise, x, ~finite)


def gamma(x: torch.Tensor, g: Strength) -> torch.Tensor:
    """Contrast change ``x ** g`` on normalized intensities (1 = none, > 0).

    Values strictly inside (0, 1), the range the percentile normalization maps the image's
    1st-99.8th percentiles to, become ``x ** g``; values <= 0 or >= 1 (the dark and bright
    tails) are left as they are. The result is continuous (0 and 1 are fixed points of
    ``x ** g``) and monotonic, and keeps the order of all intensities. ``g < 1`` brightens
    the mid-tones, ``g > 1`` darkens them.

    Shape: x ``(B, C, *S)`` -> ``(B, C, *S)``; g float or ``(B,)``.
    """
    _check_image(x)
    gs = _per_sample(g, x.shape[0], "gamma")
    if not bool((gs > 0).all()) or not bool(torch.isfinite(gs).all()):
        raise ValueError(f"gamma must be a finite number > 0, got {gs.tolist()}.")
    if bool((gs == 1).all()):
        return x
    inside = (x > 0) & (x < 1)
    base = torch.where(inside, x, torch.ones_like(x))  # keeps pow's gradient finite outside
    power = gs.to(device=x.device, dtype=x.dtype).view(-1, *[1] * (x.ndim - 1))
    out = torch.where(inside, base**power, x)
    return _keep_neutral(out, x, gs == 1)
