"""Convolutions and batch norms whose *second-order* backward is cheap: the harmonizer's step.

The harmonizer differentiates a gradient: the saliency ``d logit / d image`` is built with
``create_graph=True``, so ``loss.backward()`` also differentiates every layer's input gradient.
PyTorch's built-in double backward of a convolution gets its weight part from a "transposed"
convolution (batch as channels, stride and dilation swapped) that oneDNN runs slowly, and that
of batch norm is a long chain of small operations. Here:

- **Convolution.** For ``gx = conv_transpose(gO, W)``, ``<ggx, gx> = <conv(ggx, W), gO>``, so
  ``d/dgO = conv(ggx, W)`` and ``d/dW`` is the *ordinary* weight gradient of ``conv(ggx, W)``
  at ``gO`` (oneDNN's own kernel; one matrix product over unfolded patches for outputs of at
  most 4 pixels, where that kernel is slowest). The saliency pass computes no weight gradient
  it does not need (``wrt``).
- **Batch norm** (training mode, on the CPU): the double backward in closed form, five
  per-channel means and two elementwise passes (:class:`_BatchNormInputGrad`).

First-order results are PyTorch's own kernels (``aten.convolution_backward``,
``aten.native_batch_norm_backward``, what plain training runs): only the part plain training
never runs is changed, so the harmonized/plain ratio of ``benchmarks/harmonizer.py`` measures
the harmonizer alone. Measured there (timm resnet18, batch 16, 64 px, 2 CPU threads): the final
backward 239 -> 180 ms, the step ratio 2.7x -> 2.3x.

Use :class:`second_order_kernels` around a forward pass: it intercepts ``F.conv2d`` (what
``nn.Conv2d`` and timm's padded convolutions call) and ``F.batch_norm`` and leaves every other
call alone (string padding, unbatched inputs, evaluation-mode or mixed-dtype batch norm, batch
norm off the CPU). The second-order formulas are plain differentiable operations, so a third
derivative is still right (at PyTorch's own cost).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_CONV2D = (torch.conv2d, F.conv2d)


def _pair(value) -> list[int]:
    return [int(value)] * 2 if isinstance(value, int) else [int(v) for v in value]


def _will_run(ctx, index: int) -> bool:
    """Whether the backward pass now running needs the gradient of input ``index``.

    ``ctx.needs_input_grad`` says only that an input requires grad; ``autograd.grad(y, x)``
    needs none of the weights' gradients, which would cost a weight-gradient kernel per layer.
    PyTorch cannot tell whether ``autograd.grad`` captures a leaf: a leaf is then taken as
    needed, unless this is the ``create_graph`` pass and the context was told what that pass
    differentiates with respect to (``wrt``).
    """
    if not ctx.needs_input_grad[index]:
        return False
    node = ctx.next_functions[index][0]
    if node is None:
        return False
    second_order = torch.is_grad_enabled()  # the create_graph pass
    wrt = ctx.wrt is not None and hasattr(node, "variable") and any(node.variable is t for t in ctx.wrt)
    if wrt and ctx.wrt_once:
        if getattr(ctx, "wrt_taken", False):
            return False  # a later pass (the final backward) does not want it again
        ctx.wrt_taken = True
    try:
        return torch._C._will_engine_execute_node(node)
    except RuntimeError:  # a leaf, inside autograd.grad
        return wrt if second_order and ctx.wrt is not None else True


def _casts(x, weight, bias):
    """The tensors as autocast would give them to ``conv2d`` (its dtype, when autocast is on)."""
    device = x.device.type
    if not torch.is_autocast_enabled(device):
        return x, weight, bias
    dtype = torch.get_autocast_dtype(device)
    return x.to(dtype), weight.to(dtype), None if bias is None else bias.to(dtype)


class _Conv2d(torch.autograd.Function):
    """``F.conv2d`` whose backward, when differentiated, runs :class:`_ConvInputGrad`."""

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, wrt, wrt_once):
        x, weight, bias = _casts(x, weight, bias)
        ctx.conf, ctx.wrt, ctx.wrt_once = (stride, padding, dilation, groups), wrt, wrt_once
        ctx.bias_shape = None if bias is None else list(bias.shape)
        ctx.save_for_backward(x, weight)
        with torch.autocast(x.device.type, enabled=False):
            return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        need = [_will_run(ctx, i) for i in range(3)]
        need[2] = need[2] and ctx.bias_shape is not None
        stride, padding, dilation, groups = ctx.conf
        if torch.is_grad_enabled():  # create_graph: the input gradient gets an efficient backward
            gx = _ConvInputGrad.apply(grad, weight, x, ctx.conf) if need[0] else None
            gw = _weight_grad(grad, x, weight, ctx.conf) if need[1] else None
            gb = grad.sum((0, 2, 3)) if need[2] else None
        else:
            gx, gw, gb = torch.ops.aten.convolution_backward(
                grad, x, weight, ctx.bias_shape, stride, padding, dilation, False, [0, 0], groups, need
            )
        return gx, gw, gb, None, None, None, None, None, None


def _weight_grad(grad, x, weight, conf):
    """First-order weight gradient kept differentiable (not needed by the harmonizer's saliency)."""
    stride, padding, dilation, groups = conf
    return torch.nn.grad.conv2d_weight(x, weight.shape, grad, stride, padding, dilation, groups)


class _ConvInputGrad(torch.autograd.Function):
    """``gx = d conv(x, W) / dx`` applied to ``gO``, differentiable in ``gO`` and ``W``."""

    @staticmethod
    def forward(ctx, grad, weight, x, conf):
        stride, padding, dilation, groups = conf
        ctx.conf = conf
        ctx.save_for_backward(grad, weight)
        (gx, _, _) = torch.ops.aten.convolution_backward(
            grad, x, weight, None, stride, padding, dilation, False, [0, 0], groups, [True, False, False]
        )
        return gx

    @staticmethod
    def backward(ctx, ggx):
        grad, weight = ctx.saved_tensors
        ggx = ggx.to(grad.dtype)  # e.g. a float32 saliency loss over a bf16 autocast pass
        stride, padding, dilation, groups = ctx.conf
        need_grad, need_weight = ctx.needs_input_grad[:2]
        g_grad = F.conv2d(ggx, weight, None, stride, padding, dilation, groups) if need_grad else None
        g_weight = _weight_gradient(grad, ggx, weight, ctx.conf) if need_weight else None
        return g_grad, g_weight, None, None


def _weight_gradient(grad, x, weight, conf):
    """``d <grad, conv(x, W)> / dW``: oneDNN's kernel, or one matrix product over unfolded
    patches where the output has at most 4 pixels (a 512-channel 3x3 layer at 2x2: 10 ms in
    oneDNN, 5 in the product, on the 2-core CPU of benchmarks/harmonizer.py)."""
    stride, padding, dilation, groups = conf
    out = grad.shape[-2] * grad.shape[-1]
    if out > 4 or groups != 1 or grad.device.type != "cpu":
        (_, g_weight, _) = torch.ops.aten.convolution_backward(
            grad, x, weight, None, stride, padding, dilation, False, [0, 0], groups, [False, True, False]
        )
        return g_weight
    cols = F.unfold(x, weight.shape[-2:], dilation=dilation, padding=padding, stride=stride)
    n, patch, pixels = cols.shape
    rows = grad.transpose(0, 1).reshape(weight.shape[0], n * pixels)
    return torch.mm(rows, cols.transpose(1, 2).reshape(n * pixels, patch)).view(weight.shape)


def _channel_mean(t: torch.Tensor) -> torch.Tensor:
    return t.mean((0, 2, 3), keepdim=True)


class _BatchNorm2d(torch.autograd.Function):
    """Training-mode ``F.batch_norm`` (batch statistics) whose backward, when differentiated,
    runs :class:`_BatchNormInputGrad`; first-order results are PyTorch's own kernels."""

    @staticmethod
    def forward(ctx, x, weight, bias, buffers, momentum, eps, wrt, wrt_once):
        running_mean, running_var = buffers
        y, mean, invstd = torch.ops.aten.native_batch_norm(
            x, weight, bias, running_mean, running_var, True, momentum, eps
        )
        ctx.eps, ctx.wrt, ctx.wrt_once = eps, wrt, wrt_once
        ctx.save_for_backward(x, weight, mean, invstd)
        return y

    @staticmethod
    def backward(ctx, grad):
        x, weight, mean, invstd = ctx.saved_tensors
        need = [_will_run(ctx, i) for i in range(3)]
        if torch.is_grad_enabled():
            gx = _BatchNormInputGrad.apply(grad, x, weight, mean, invstd, ctx.eps) if need[0] else None
            xhat = F.batch_norm(x, None, None, None, None, True, 0.0, ctx.eps) if need[1] else None
            gw = (grad * xhat).sum((0, 2, 3)) if need[1] else None
            gb = grad.sum((0, 2, 3)) if need[2] else None
        else:
            gx, gw, gb = torch.ops.aten.native_batch_norm_backward(
                grad, x, weight, None, None, mean, invstd, True, ctx.eps, need
            )
        return gx, gw, gb, None, None, None, None, None


class _BatchNormInputGrad(torch.autograd.Function):
    """``gx`` of training-mode batch norm applied to ``gy``, differentiable in ``gy``, ``x`` and
    the scale ``g``. With per-channel means ``S`` over (N, H, W), ``r`` = 1 / SD, ``xh`` the
    normalised input, ``A = S(gy)``, ``B = S(gy xh)``, ``C = S(ggx)``, ``D = S(ggx xh)`` and
    ``E = S(ggx gy) - A C``, the gradients of ``<ggx, gx>`` are
    ``d/dgy = g r (ggx - C - xh D)``, ``d/dx = -g r^2 (xh (E - 3 B D) + D (gy - A) + B (ggx - C))``
    and ``d/dg = r M (E - B D)`` summed per channel (M elements per channel)."""

    @staticmethod
    def forward(ctx, grad, x, weight, mean, invstd, eps):
        ctx.save_for_backward(grad, x, weight, mean, invstd)
        (gx, _, _) = torch.ops.aten.native_batch_norm_backward(
            grad, x, weight, None, None, mean, invstd, True, eps, [True, False, False]
        )
        return gx

    @staticmethod
    def backward(ctx, ggx):
        grad, x, weight, mean, invstd = ctx.saved_tensors
        shape = (1, -1, 1, 1)
        r, g = invstd.view(shape), weight.view(shape)
        xhat = torch.addcmul(-mean.view(shape) * r, x, r)
        a, b = _channel_mean(grad), _channel_mean(grad * xhat)
        c, d = _channel_mean(ggx), _channel_mean(ggx * xhat)
        e = _channel_mean(ggx * grad) - a * c
        need_grad, need_x, need_weight = ctx.needs_input_grad[:3]
        gr = g * r
        g_grad = None
        if need_grad:  # g r ggx - g r d xhat - g r c, as two fused passes
            g_grad = torch.addcmul(-gr * c, xhat, -gr * d).addcmul_(ggx, gr)
        g_x = None
        if need_x:  # per-channel coefficients of xhat, gy, ggx and a constant: three fused passes
            k = -gr * r
            g_x = torch.addcmul(-k * (d * a + b * c), xhat, k * (e - 3 * b * d))
            g_x.addcmul_(grad, k * d).addcmul_(ggx, k * b)
        g_weight = (r * (e - b * d)).flatten() * (x.numel() // x.shape[1]) if need_weight else None
        return g_grad, g_x, g_weight, None, None, None


class second_order_kernels(TorchFunctionMode):  # noqa: N801 (used as a context manager)
    """Context in which ``F.conv2d`` and ``F.batch_norm`` have an efficient double backward.

    Parameters
    ----------
    wrt : tuple of Tensors, optional
        The leaves a later ``autograd.grad(..., create_graph=True)`` differentiates with respect
        to (the images, for a saliency): the weight gradients that call does not need are then
        not computed. Without it they are, and discarded.
    wrt_once : bool, default False
        The leaves in ``wrt`` get their gradient from the first backward pass that reaches
        them (the saliency's) only: a later ``backward()`` does not compute it again (their
        ``.grad`` stays None). The harmonizer's own copy of the images needs no gradient once
        the saliency is taken.

    Examples
    --------
    >>> import contextlib
    >>> conv = torch.nn.Conv2d(2, 3, 3, stride=2, padding=1)
    >>> x = torch.randn(4, 2, 9, 9, requires_grad=True)
    >>> def second_order_weight_grad(context):
    ...     with context:
    ...         y = conv(x)
    ...     (gx,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    ...     return torch.autograd.grad(gx.square().sum(), conv.weight)[0]
    >>> ours = second_order_weight_grad(second_order_kernels(wrt=(x,)))
    >>> torch.allclose(ours, second_order_weight_grad(contextlib.nullcontext()), rtol=1e-4)
    True
    """

    def __init__(self, wrt: tuple[torch.Tensor, ...] | None = None, *, wrt_once: bool = False):
        super().__init__()
        self.wrt, self.wrt_once = wrt, wrt_once

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _CONV2D:
            call = _convolution_call(*args, **kwargs)
            if call is not None:
                return _Conv2d.apply(*call, self.wrt, self.wrt_once)
        elif func is F.batch_norm:
            call = _batch_norm_call(*args, **kwargs)
            if call is not None:
                return _BatchNorm2d.apply(*call, self.wrt, self.wrt_once)
        return func(*args, **kwargs)


def _convolution_call(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``_Conv2d.apply``'s arguments, or None for calls left to PyTorch (string padding, 3-D)."""
    if isinstance(padding, str) or x.ndim != 4:
        return None
    return x, weight, bias, _pair(stride), _pair(padding), _pair(dilation), int(groups)


def _batch_norm_call(x, running_mean, running_var, weight=None, bias=None, training=False, momentum=0.1, eps=1e-5):
    """``_BatchNorm2d.apply``'s arguments for training-mode 4-D calls on the CPU with an affine
    transform of the input's dtype; None (left to PyTorch) for the others (on a GPU,
    ``F.batch_norm`` runs cuDNN's kernel, which ``native_batch_norm`` is not)."""
    if (
        not training
        or x.ndim != 4
        or x.device.type != "cpu"
        or weight is None
        or bias is None
        or weight.dtype != x.dtype
    ):
        return None
    return x, weight, bias, (running_mean, running_var), float(momentum or 0.0), float(eps)
