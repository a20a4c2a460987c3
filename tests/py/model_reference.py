"""Reference tensors for the model tests, generated with the venv's smp 0.6.0 / torchvision 0.26.0.

usage: model_reference.py smp OUT_DIR   -> smp_state.safetensors, smp_state.pth, smp_io.safetensors
       model_reference.py tv  OUT_DIR   -> tv_state.safetensors, tv_state.pth, tv_io.safetensors
Batch-norm running statistics are randomised so that eval mode really exercises them.
"""
import sys
import os

import torch
from safetensors.torch import save_file


def randomise_bn(model):
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
            m.num_batches_tracked.fill_(7)


def save_state(model, out, stem):
    sd = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(out, f"{stem}.safetensors"))
    torch.save(model.state_dict(), os.path.join(out, f"{stem}.pth"))


def smp(out):
    import segmentation_models_pytorch as smp_lib

    torch.manual_seed(0)
    model = smp_lib.UnetPlusPlus("resnet34", encoder_weights=None, in_channels=3, classes=1)
    with torch.no_grad():
        randomise_bn(model)
    model.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = model(x)
    save_state(model, out, "smp_state")
    # Train mode: batch statistics in the forward, running statistics updated with momentum 0.1.
    x2 = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    model.train()
    with torch.no_grad():
        y2 = model(x2)
    io = {
        "input": x,
        "output": y.contiguous(),
        "train_input": x2,
        "train_output": y2.contiguous(),
        "train_bn_mean": model.decoder.blocks["x_0_3"].conv2[1].running_mean.clone(),
        "train_bn_var": model.encoder.layer4[2].bn2.running_var.clone(),
    }
    save_file(io, os.path.join(out, "smp_io.safetensors"))
    n = sum(p.numel() for p in model.parameters())
    print(n, sum(p.numel() for p in model.encoder.parameters()))


def tv(out):
    from torchvision.models import resnet34

    torch.manual_seed(3)
    model = resnet34(weights=None)
    with torch.no_grad():
        randomise_bn(model)
    model.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    feats = {"input": x}
    with torch.no_grad():
        h = model.relu(model.bn1(model.conv1(x)))
        feats["f1"] = h
        h = model.maxpool(h)
        for i, layer in enumerate([model.layer1, model.layer2, model.layer3, model.layer4]):
            h = layer(h)
            feats[f"f{i + 2}"] = h
    save_state(model, out, "tv_state")
    save_file({k: v.contiguous() for k, v in feats.items()}, os.path.join(out, "tv_io.safetensors"))
    print(len(model.state_dict()))


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"smp": smp, "tv": tv}[sys.argv[1]](sys.argv[2])
