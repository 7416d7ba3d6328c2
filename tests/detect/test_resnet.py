"""2-D ResNet parity with a torch ResNet written here from torchvision's layout (conv1/bn1,
maxpool, ``layer{l}.{b}.conv{i}/bn{i}/downsample``, fc), on seeded random weights, in eval
and train mode; parameter counts of torchvision ResNet-50 and the NPR backbone; loader errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxrec.models.resnet import ResNet, ResNetConfig, load_torchvision_resnet

torch = pytest.importorskip("torch")
tnn = torch.nn


class _TorchBlock(tnn.Module):
    def __init__(self, kind, cin, width, stride):
        super().__init__()
        cout = width * (4 if kind == "bottleneck" else 1)
        if kind == "basic":
            shapes = [(cin, width, 3, stride), (width, width, 3, 1)]
        else:
            shapes = [(cin, width, 1, 1), (width, width, 3, stride), (width, cout, 1, 1)]
        self.n = len(shapes)
        for i, (a, o, k, s) in enumerate(shapes, start=1):
            setattr(self, f"conv{i}", tnn.Conv2d(a, o, k, s, k // 2, bias=False))
            setattr(self, f"bn{i}", tnn.BatchNorm2d(o))
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = tnn.Sequential(
                tnn.Conv2d(cin, cout, 1, stride, bias=False), tnn.BatchNorm2d(cout)
            )

    def forward(self, x):
        h = x
        for i in range(1, self.n + 1):
            h = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(h))
            h = torch.relu(h) if i < self.n else h
        return torch.relu(h + (x if self.downsample is None else self.downsample(x)))


class _TorchResNet(tnn.Module):
    def __init__(self, cfg: ResNetConfig):
        super().__init__()
        k, s = cfg.stem_kernel, cfg.stem_stride
        self.conv1 = tnn.Conv2d(cfg.in_channels, cfg.stem_width, k, s, k // 2, bias=False)
        self.bn1 = tnn.BatchNorm2d(cfg.stem_width)
        self.maxpool = tnn.MaxPool2d(3, 2, 1) if cfg.maxpool else tnn.Identity()
        cin, exp = cfg.stem_width, 4 if cfg.block == "bottleneck" else 1
        for stage, (n, w) in enumerate(zip(cfg.layers, cfg.widths)):
            blocks = []
            for b in range(n):
                blocks.append(_TorchBlock(cfg.block, cin, w, 2 if stage and not b else 1))
                cin = w * exp
            setattr(self, f"layer{stage + 1}", tnn.Sequential(*blocks))
        self.stages = len(cfg.layers)
        self.fc = tnn.Linear(cin, cfg.num_outputs)

    def forward(self, x):
        h = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        for i in range(1, self.stages + 1):
            h = getattr(self, f"layer{i}")(h)
        return self.fc(h.mean((2, 3)))


@pytest.mark.parametrize(
    "cfg",
    [
        ResNetConfig(layers=(1, 2), widths=(4, 8), stem_width=8, stem_kernel=3, num_outputs=3),
        ResNetConfig(
            block="basic", layers=(1, 1), widths=(8, 16), stem_width=8, num_outputs=2, maxpool=False
        ),  # fmt: skip
    ],
    ids=["bottleneck", "basic"],
)
def test_resnet_matches_torch_eval_and_train(cfg):
    torch.manual_seed(0)
    ref = _TorchResNet(cfg)
    with torch.no_grad():  # non-trivial running statistics and affine parameters
        for m in ref.modules():
            if isinstance(m, tnn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    state = {k: v.numpy().copy() for k, v in ref.state_dict().items()}
    model = load_torchvision_resnet(ResNet(cfg, rngs=nnx.Rngs(1)), state)
    x = np.random.default_rng(0).normal(size=(4, 3, 20, 20)).astype(np.float32)
    xj = jnp.asarray(x.transpose(0, 2, 3, 1))
    ref.eval()
    with torch.no_grad():
        np.testing.assert_allclose(model(xj), ref(torch.from_numpy(x)).numpy(), atol=1e-4)
    ref.train()
    with torch.no_grad():
        y_train = ref(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(xj, train=True), y_train, atol=1e-4)
    # running means moved exactly as torch's (momentum 0.1)
    np.testing.assert_allclose(
        model.stem_bn.mean.get_value(), ref.bn1.running_mean.numpy(), atol=1e-5
    )


def test_parameter_counts_and_loader_errors():
    def count(cfg):
        m = nnx.eval_shape(lambda: ResNet(cfg, rngs=nnx.Rngs(0)))
        return sum(x.size for x in jax.tree.leaves(nnx.state(m, nnx.Param)))

    assert count(ResNetConfig.resnet50()) == 25_557_032  # torchvision resnet50
    assert count(ResNetConfig.npr()) == 1_437_761
    cfg = ResNetConfig.slim(4, (1, 1))
    model = ResNet(cfg, rngs=nnx.Rngs(0))
    torch.manual_seed(0)
    state = {k: v.numpy() for k, v in _TorchResNet(cfg).state_dict().items()}
    state["fc1.weight"], state["fc1.bias"] = state.pop("fc.weight"), state.pop("fc.bias")
    load_torchvision_resnet(model, state, fc_name="fc1")  # the NPR authors' head name
    with pytest.raises(KeyError, match="fc.weight"):
        load_torchvision_resnet(model, state)
    state["layer1.0.conv2.weight"] = np.zeros((4, 4, 1, 1), np.float32)
    with pytest.raises(ValueError, match="layer1.0.conv2.weight"):
        load_torchvision_resnet(model, state, fc_name="fc1")
    with pytest.raises(ValueError, match="block"):
        ResNetConfig(block="wide")
    with pytest.raises(ValueError, match="images"):
        model(jnp.zeros((2, 8, 8, 1)))
