"""Work rate of each CPU workload with one intra-op thread and with every core, on an idle
machine and with every core otherwise busy (one spinning process per core, started and stopped
here), interleaved in one process; prints the rates, the ratio to the best setting of the same
load, and the thread count ``wgan_cli.threads`` chooses.

    python scripts/bench_threads.py [--workloads demo,eval,digits,digits_full,cnn32,resnet32,fid]
                                    [--seconds 4] [--rounds 3]

The workloads: ``demo`` (the default run's generator step: MLP 256 x 3, batch 128), ``eval``
(one evaluation of the default run: exact W1 on 1000 points per side, the noise floor, the
critic field), ``digits`` (a step of ``data=digits``: the CNN at quarter width on 16 x 16
images), ``digits_full`` (the same at full width, ``model.channels=64``), ``cnn32`` and
``resnet32`` (a step of the CIFAR-10 CNN runs, ``critic=gp``, batch 64, on random 32 x 32
images), ``fid`` (Inception features of 20 images). The policy reads the FLOPs of one forward
of a batch through the generator and the critic (``Trainer.forward_flops``). Rates are per second (steps, evaluations
or images); each is the median of ``--rounds`` rounds of about ``--seconds``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wgan_cli.threads import LARGE, choose_threads, cores  # noqa: E402
from wgan_cli.train import compose_config  # noqa: E402
from wgan_cli.training import Trainer  # noqa: E402

STEP_CONFIGS = {
    "demo": [],
    "digits": ["data=digits"],
    "digits_full": ["data=digits", "model.channels=64"],
    "cnn32": ["model=cnn32", "critic=gp", "n_critic=5", "batch_size=64"],
    "resnet32": ["model=resnet32", "critic=gp", "n_critic=5", "batch_size=64"],
}


@contextlib.contextmanager
def busy(n: int):
    """``n`` processes that spin on a core each, for as long as the block runs."""
    spin = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for p in spin:
            p.kill()
            p.wait()


def rate(work, seconds: float) -> float:  # noqa: ANN001
    count, start = 0, time.perf_counter()
    while True:
        work()
        count += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def write_images(folder: Path, n: int = 256) -> None:
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    for i in range(n):
        Image.fromarray(torch.randint(0, 256, (32, 32, 3), dtype=torch.uint8, generator=g).numpy()).save(
            folder / f"{i:04d}.png")


def workloads(names: list[str], images: Path, run_dir: Path) -> dict:
    """name -> (a callable doing one unit of work, units per call, the FLOPs the policy reads)."""
    out = {}
    for name in names:
        if name in STEP_CONFIGS:
            overrides = STEP_CONFIGS[name]
            extra = ["data=image_folder", f"data.path={images}", "data.workers=0"] if name in ("cnn32", "resnet32") else []
            cfg = compose_config([*overrides, *extra, "device=cpu", "eval.every=0", "fid.every=0", "resume=never",
                                  "checkpoint.every=0", "train.threads=1"])
            t = Trainer(cfg, run_dir / name)
            t.train_step()
            out[name] = (t.train_step, 1, t.forward_flops)
        elif name == "eval":
            cfg = compose_config(["device=cpu", "resume=never", "train.threads=1"])
            t = Trainer(cfg, run_dir / name)
            out[name] = (lambda t=t: t.evaluate(), 1, t.forward_flops)  # the demo's nets
        elif name == "fid":
            from wgan_cli.metrics.inception import FeatureExtractor

            extractor = FeatureExtractor(device="cpu")
            batch = torch.rand(20, 3, 32, 32) * 2 - 1
            extractor(batch[:2])
            out[name] = (lambda: extractor(batch), 20, LARGE)
        else:
            raise SystemExit(f"unknown workload {name}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="demo,eval,digits,digits_full,cnn32,resnet32,fid")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    n = cores()
    print(f"# {platform.processor() or platform.machine()}, {n} cores, torch {torch.__version__}, "
          f"{time.strftime('%Y-%m-%d')}, load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        write_images(Path(tmp))
        work = workloads(args.workloads.split(","), Path(tmp), Path(tmp) / "runs")
        print("| workload | load | 1 thread /s | all cores /s | 1 thread / best | all / best | policy | policy / best |")
        print("|---|---|---|---|---|---|---|---|")
        for load in ("idle", "busy"):
            with busy(n) if load == "busy" else contextlib.nullcontext():
                for name, (fn, units, flops) in work.items():
                    rates = {1: [], n: []}
                    for _ in range(args.rounds):
                        for threads in (1, n):  # interleaved, so a drift in load hits both
                            torch.set_num_threads(threads)
                            rates[threads].append(units * rate(fn, args.seconds))
                    one, every = statistics.median(rates[1]), statistics.median(rates[n])
                    best = max(one, every)
                    chosen = choose_threads(flops, n)
                    mine = one if chosen == 1 else every
                    print(f"| {name} | {load} | {one:.2f} | {every:.2f} | {one / best:.2f} | {every / best:.2f} | "
                          f"{chosen} | {mine / best:.2f} |", flush=True)


if __name__ == "__main__":
    main()
