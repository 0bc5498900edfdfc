"""PyTorch's own answer to "do 2 data-parallel ranks match 1 process with the doubled batch?".

DistributedDataParallel over Gloo (2 processes on loopback, batch 2 each) against one process with
batch 4 in one pass, from the same random Qwen3-shaped model (5 layers, hidden 32, as adept's
TinyModel), the same token blocks, torch.optim.AdamW (lr 3e-3, as DataParallelTest), 20 steps, in
float32 and float64. Prints the largest parameter difference and how many elements differ by more
than 1e-6: the floor fp32 rounding sets for any data-parallel implementation, PyTorch's included.

    /usr/bin/python3 tools/reference/ddp_floor.py [--steps 20] [--lr 3e-3]
"""
import argparse
import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402

VOCAB, BLOCK, GLOBAL_BATCH = 64, 16, 4


def config():
    return ref.make_config("qwen3", VOCAB, 32, 64, 5, 4, 2, head_dim=8, tie_word_embeddings=True)


def model(dtype):
    torch.manual_seed(5)
    m = ref.ReferenceModel(config())
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.02)
    return m.to(dtype)


def blocks(steps):
    g = torch.Generator().manual_seed(7)
    return torch.randint(4, VOCAB, (steps, GLOBAL_BATCH, BLOCK), generator=g)


def train(m, data, rows, lr):
    opt = torch.optim.AdamW(m.parameters(), lr=lr, weight_decay=0.1)
    for batch in data:
        ids = batch[rows]
        _, loss = m(ids, labels=ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return {n: p.detach().clone() for n, p in m.named_parameters()}


def rank_main(rank, world, port, dtype, steps, lr, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    ddp = DistributedDataParallel(model(dtype))
    share = GLOBAL_BATCH // world
    params = train(ddp, blocks(steps), slice(rank * share, (rank + 1) * share), lr)
    if rank == 0:
        torch.save({n.removeprefix("module."): p for n, p in params.items()}, out)
    dist.destroy_process_group()


def compare(a, b):
    worst, beyond, total = 0.0, 0, 0
    for n in a:
        d = (a[n].double() - b[n].double()).abs()
        worst = max(worst, d.max().item())
        beyond += int((d > 1e-6).sum())
        total += d.numel()
    return worst, beyond, total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--lr", type=float, default=3e-3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}: DDP (gloo, 2 ranks x batch 2) vs 1 process x batch 4, {args.steps} AdamW steps, lr {args.lr}")
    for dtype in (torch.float32, torch.float64):
        one = train(model(dtype), blocks(args.steps), slice(0, GLOBAL_BATCH), args.lr)
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "ddp.pt")
            port = 29500 + os.getpid() % 1000
            mp.spawn(rank_main, args=(2, port, dtype, args.steps, args.lr, out), nprocs=2, join=True)
            two = torch.load(out)
        worst, beyond, total = compare(one, two)
        print(f"{str(dtype).removeprefix('torch.')}: max parameter difference {worst:.3g}, {beyond} of {total} elements > 1e-6")


if __name__ == "__main__":
    main()
