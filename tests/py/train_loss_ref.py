"""Reference values for src/loss.rs: smp 0.6.0 FocalLoss("binary"), DiceLoss("binary") and 0.5/0.5 combined
on seeded random logits/targets, with the gradient of the combined loss w.r.t. the logits. Prints JSON."""
import json
import torch
import segmentation_models_pytorch as smp

focal = smp.losses.FocalLoss("binary")
dice = smp.losses.DiceLoss("binary")
g = torch.Generator().manual_seed(1234)
cases = []
# (shape, logit scale, positive rate): a normal batch, large logits, an all-empty batch, a batch with one empty image.
for shape, scale, rate in [((3, 1, 8, 8), 2.0, 0.3), ((2, 1, 16, 16), 8.0, 0.1), ((2, 1, 8, 8), 1.5, 0.0), ((4, 1, 4, 4), 3.0, 0.5)]:
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).float()
    y = (torch.rand(shape, generator=g) < rate).float()
    if shape[0] == 4:
        y[1] = 0
    x.requires_grad_(True)
    f, d = focal(x, y), dice(x, y)
    c = 0.5 * f + 0.5 * d
    c.backward()
    cases.append(dict(shape=list(shape), logits=x.detach().flatten().tolist(), target=y.flatten().tolist(),
                      focal=f.item(), dice=d.item(), combined=c.item(), grad=x.grad.flatten().tolist()))
print(json.dumps(cases))
