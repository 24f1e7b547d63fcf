# The PyTorch peer's LSTM autoencoder (definition in shared/reference/peer-results.md),
# timed on the device machine's GPU for the same-machine ratio.
import sys, time, csv
import numpy as np, torch
path, device = sys.argv[1], sys.argv[2]
rows = list(csv.reader(open(path)))[1:]
x = np.array([[float(r[1]), float(r[2]), float(r[3])] for r in rows], dtype=np.float32)
lo, hi = x.min(0), x.max(0); x = (x - lo) / (hi - lo)
W = 50
win = np.lib.stride_tricks.sliding_window_view(x, (W, 3))[:, 0]
win = torch.tensor(np.ascontiguousarray(win), device=device)
class AE(torch.nn.Module):
    def __init__(s):
        super().__init__(); s.enc = torch.nn.LSTM(3, 32, batch_first=True); s.dec = torch.nn.LSTM(32, 32, batch_first=True); s.out = torch.nn.Linear(32, 3)
    def forward(s, v):
        _, (h, _) = s.enc(v); z = h[-1].unsqueeze(1).repeat(1, W, 1); y, _ = s.dec(z); return s.out(y)
for run in range(int(sys.argv[3]) if len(sys.argv) > 3 else 1):
    torch.manual_seed(42); m = AE().to(device); opt = torch.optim.Adam(m.parameters(), 1e-3)
    g = torch.Generator().manual_seed(42)
    if device == "cuda": torch.cuda.synchronize()
    t = time.perf_counter()
    for ep in range(10):
        perm = torch.randperm(len(win), generator=g).to(device)
        for i in range(0, len(win), 64):
            b = win[perm[i:i+64]]; opt.zero_grad(); loss = torch.nn.functional.mse_loss(m(b), b); loss.backward(); opt.step()
    if device == "cuda": torch.cuda.synchronize()
    train = time.perf_counter() - t
    t = time.perf_counter()
    with torch.no_grad():
        err = torch.cat([((m(win[i:i+4096]) - win[i:i+4096]) ** 2).mean((1, 2)) for i in range(0, len(win), 4096)])
    if device == "cuda": torch.cuda.synchronize()
    score = time.perf_counter() - t
    print(f"torch {torch.__version__} {device} {path}: windows {len(win)} train10 {train:.2f} s score {score:.3f} s final loss {loss.item():.5f}", flush=True)
