"""models.second_order: the same derivatives as PyTorch's built-in double backward, cheaper."""

import contextlib

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models.second_order import _weight_gradient, second_order_kernels


def _odd_net():
    """Every kind of call the context handles or leaves alone: strides, dilation, groups, bias,
    1x1, string padding, batch norm with and without running statistics, a 2x2 output."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 5, stride=2, padding=2, bias=True),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2, bias=False),
        nn.BatchNorm2d(8, track_running_stats=False),
        nn.Softplus(),
        nn.Conv2d(8, 16, 3, padding="same"),
        nn.Conv2d(16, 12, 3, stride=4, padding=1),  # 12x12 -> 3x3: the matrix-product path
        nn.BatchNorm2d(12),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(12 * 3 * 3, 4),
    )


def _resnet():
    import timm

    torch.manual_seed(0)
    return timm.create_model("resnet18", num_classes=4, zero_init_last=False)  # every block trains


def _saliency_step(model, images, labels, context):
    """Forward in ``context``, saliency with create_graph, a loss of both, its gradients."""
    model.zero_grad(set_to_none=True)
    x = images.clone().requires_grad_(True)
    with context(x):
        logits = model(x)
    (saliency,) = torch.autograd.grad(logits.gather(1, labels[:, None]).sum(), x, create_graph=True)
    loss = saliency.mean(1).square().mean() * 100 + F.cross_entropy(logits, labels)
    loss.backward()
    return saliency.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


BUILT_IN = lambda x: contextlib.nullcontext()  # noqa: E731
OURS = lambda x: second_order_kernels(wrt=(x,))  # noqa: E731


@pytest.mark.parametrize(("build", "size"), [(_odd_net, 23), (_resnet, 32)])
def test_second_order_gradients_equal_pytorch_built_in(build, size):
    model = build().double().train()
    images = torch.randn(6, 3, size, size, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    labels = torch.arange(6) % 4
    s_ref, g_ref = _saliency_step(model, images, labels, BUILT_IN)
    stats_ref = [b.clone() for b in model.buffers()]
    s_ours, g_ours = _saliency_step(model, images, labels, OURS)
    assert torch.allclose(s_ours, s_ref, rtol=1e-12, atol=1e-14)
    assert g_ours.keys() == g_ref.keys() and len(g_ref) == len(list(model.parameters()))
    scale = max(ref.abs().max() for ref in g_ref.values())
    assert sum(ref.abs().max() > 1e-6 * scale for ref in g_ref.values()) >= len(g_ref) - 2  # 2 biases feed a BN (zero)
    for name, ref in g_ref.items():
        assert (g_ours[name] - ref).abs().max() <= 1e-10 * scale, name
    # running statistics took one more step exactly as the built-in forward did
    model_ref = build().double().train()
    for _ in range(2):
        model_ref(images)
    for ours, ref in zip(model.buffers(), model_ref.buffers()):
        assert torch.allclose(ours.double(), ref.double())
    assert any(not torch.equal(a, b) for a, b in zip(stats_ref, model.buffers()))


def test_first_order_training_is_bit_identical():
    """Plain training inside the context runs PyTorch's own kernels: the same bits."""
    model = _resnet().train()
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    grads = []
    for context in (contextlib.nullcontext(), second_order_kernels()):
        model.zero_grad(set_to_none=True)
        with context:
            loss = F.cross_entropy(model(images), torch.arange(4))
        loss.backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))


@pytest.mark.parametrize(("stride", "padding", "dilation", "size"), [(1, 1, 1, 2), (2, 0, 1, 4), (3, 2, 2, 5)])
def test_weight_gradient_matrix_product_equals_the_kernel(stride, padding, dilation, size):
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(5, 6, size, size, generator=generator, dtype=torch.float64)
    weight = torch.randn(7, 6, 3, 3, generator=generator, dtype=torch.float64)
    out = F.conv2d(x, weight, stride=stride, padding=padding, dilation=dilation)
    assert out.shape[-1] * out.shape[-2] <= 4  # the matrix-product path
    grad = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    conf = ([stride] * 2, [padding] * 2, [dilation] * 2, 1)
    (_, expected, _) = torch.ops.aten.convolution_backward(
        grad, x, weight, None, *conf[:3], False, [0, 0], 1, [False, True, False]
    )
    assert torch.allclose(_weight_gradient(grad, x, weight, conf), expected, rtol=1e-12)


def test_wrt_once_leaves_the_images_gradient_out_of_the_final_backward():
    model = _odd_net().train()
    images = torch.randn(2, 3, 23, 23, requires_grad=True)
    with second_order_kernels(wrt=(images,), wrt_once=True):
        logits = model(images)
    (saliency,) = torch.autograd.grad(logits[:, 0].sum(), images, create_graph=True)
    (saliency.square().sum() + logits.sum()).backward()
    assert images.grad is None and saliency.abs().sum() > 0
    assert model[0].weight.grad.abs().sum() > 0
    images.grad = None  # without wrt_once the final backward fills it, as PyTorch does
    with second_order_kernels(wrt=(images,)):
        logits = model(images)
    (saliency,) = torch.autograd.grad(logits[:, 0].sum(), images, create_graph=True)
    (saliency.square().sum() + logits.sum()).backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_weights_are_differentiable_in_a_create_graph_pass_without_wrt():
    """A gradient penalty on the weights (not the harmonizer's) still gets every term."""
    conv = nn.Conv2d(2, 3, 3).double()
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64)
    penalties = []
    for context in (contextlib.nullcontext(), second_order_kernels()):
        conv.zero_grad(set_to_none=True)
        with context:
            y = conv(x).sin().sum()
        (gw,) = torch.autograd.grad(y, conv.weight, create_graph=True)
        gw.square().sum().backward()
        penalties.append(conv.weight.grad.clone())
    assert torch.allclose(*penalties, rtol=1e-12)


def test_a_third_derivative_is_still_right():
    torch.manual_seed(0)
    # convolutions only: PyTorch's batch norm has no third derivative to compare with
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.Tanh(), nn.Conv2d(2, 1, 3)).double()
    x0 = torch.randn(3, 1, 7, 7, dtype=torch.float64)
    thirds = []
    for context in (contextlib.nullcontext(), second_order_kernels()):
        x = x0.clone().requires_grad_(True)
        with context:
            y = model(x).sin().sum()
        (g1,) = torch.autograd.grad(y, x, create_graph=True)
        (g2,) = torch.autograd.grad(g1.square().sum(), x, create_graph=True)
        thirds.append(torch.autograd.grad(g2.sin().sum(), [x, *model.parameters()]))
    for ours, ref in zip(*thirds):
        assert torch.allclose(ours, ref, rtol=1e-9, atol=1e-12)


def test_bf16_autocast_and_channels_last_agree_with_the_built_in():
    model = _resnet().train().to(memory_format=torch.channels_last)
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    images = images.contiguous(memory_format=torch.channels_last)
    labels = torch.arange(4)

    def amp(context):
        return lambda x: _stack(torch.autocast("cpu", dtype=torch.bfloat16), context(x))

    _, ref = _saliency_step(model, images, labels, amp(BUILT_IN))
    _, ours = _saliency_step(model, images, labels, amp(OURS))
    for name, g in ours.items():
        assert g.dtype == torch.float32 and torch.isfinite(g).all(), name
    flat = lambda grads: torch.cat([g.flatten() for g in grads.values()])  # noqa: E731
    ref_flat, ours_flat = flat(ref), flat(ours)
    assert (ours_flat - ref_flat).norm() < 0.05 * ref_flat.norm()  # bf16 rounding only


@contextlib.contextmanager
def _stack(*contexts):
    with contextlib.ExitStack() as stack:
        for context in contexts:
            stack.enter_context(context)
        yield


def test_calls_it_does_not_handle_are_left_to_pytorch():
    names = []
    with second_order_kernels():
        x = torch.randn(2, 3, 8, 8, requires_grad=True)
        names.append(type(F.conv2d(x, torch.randn(4, 3, 3, 3), padding="same").grad_fn).__name__)
        names.append(type(F.conv1d(x[:, :, 0], torch.randn(4, 3, 3)).grad_fn).__name__)
        bn = nn.BatchNorm2d(3).eval()
        names.append(type(bn(x).grad_fn).__name__)
        names.append(type(F.conv2d(x, torch.randn(4, 3, 3, 3)).grad_fn).__name__)
    assert names[:3] == ["ConvolutionBackward0", "ConvolutionBackward0", "NativeBatchNormBackward0"]
    assert names[3] == "_Conv2dBackward"
