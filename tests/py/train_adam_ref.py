"""torch.optim.Adam(lr=1e-2) for 5 steps on the toy problem of tests/train_scaler.rs; prints the final a then b."""
import json
import torch

a = torch.tensor([[0.5], [-1.0], [2.0]], requires_grad=True)
b = torch.tensor([0.25, 3.0], requires_grad=True)
opt = torch.optim.Adam([a, b], lr=1e-2, foreach=False)
for _ in range(5):
    opt.zero_grad()
    loss = (a * a).sum() * 3.0 + (b * a[0:2, 0]).sum()
    loss.backward()
    opt.step()
print(json.dumps(a.detach().flatten().tolist() + b.detach().tolist()))
