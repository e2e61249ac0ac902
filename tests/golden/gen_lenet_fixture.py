# Writes lenet weights trained by PyTorch, as a data-parallel checkpoint would ("module." keys), plus
# an input batch and PyTorch's logits for it (run with Debian's /usr/bin/python3; output committed).
"""lenet_fixture.safetensors:
  module.0.weight ... module.9.bias   lenet's state dict (SEED's layer order), after 30 SGD steps
                                      on random data so the values are not an initialization
  input                               [4, 1, 28, 28] float32
  logits                              [4, 10] float32, PyTorch's lenet(input) in eval mode
Fixed seeds: rerunning gives the same file."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import write_safetensors  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def lenet():
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = lenet()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(30):
        x = torch.randn(16, 1, 28, 28)
        y = torch.randint(0, 10, (16,))
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        logits = model(x)
    named = [("module." + k, v) for k, v in model.state_dict().items()]
    named += [("input", x), ("logits", logits)]
    write_safetensors(os.path.join(HERE, "lenet_fixture.safetensors"), named,
                      {"source": "tests/golden/gen_lenet_fixture.py", "torch": torch.__version__})


if __name__ == "__main__":
    main()
