"""How many intra-op threads torch uses on the CPU: chosen by the work and the machine.

PyTorch's default is one thread per core. Its pool waits at the end of every op for its slowest
thread, so on ops too small to split (the toy MLPs: batch 128, width 256) a second thread buys
little on an idle machine and costs several times over when another process holds a core
(``scripts/bench_threads.py`` measures it; the table is in docs/benchmarks.md). The policy, in
order of precedence:

1. ``train.threads=N`` (or a command's ``--threads N``): N threads;
2. ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` in the environment: that many (as torch reads them);
3. a count set with ``torch.set_num_threads`` before the run (from Python): kept;
4. ``auto``: ``choose_threads(flops, cores)``, a pure function of the size of the work (the
   FLOPs of one forward of a batch, counted by torch: one thread under ``SMALL_FLOPS``, every
   core above) and the cores this process may run on.

The count is chosen once per run and never follows the machine's load: results depend on it in
their last bits (tested), and a run must not depend on what else ran beside it.

DataLoader workers run with one thread each (set in every worker: data/image_folder.py; tested).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
from typing import Any, Iterator, Mapping

from wgan_cli.errors import ConfigError

log = logging.getLogger("wgan_cli")
ENV_KEYS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


SMALL_FLOPS = 1e9  # one forward of a batch under this is too small to split over threads
SMALL, LARGE = 0.0, math.inf  # work known to be small (POT's solvers, the toy MLPs) or large (Inception)


def cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        n = os.cpu_count() or 1
    try:
        quota, period = open("/sys/fs/cgroup/cpu.max").read().split()
        if quota != "max":
            n = min(n, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def choose_threads(flops: float, n_cores: int) -> int:
    """The ``auto`` choice: one thread for work too small to split (``flops``, the cost of one
    forward of a batch, under ``SMALL_FLOPS``), every core otherwise."""
    return 1 if flops < SMALL_FLOPS else n_cores


def forward_flops(net: Any, example: Any, batch: int) -> float:
    """FLOPs of one forward of ``batch`` samples like ``example`` (one sample, with its batch axis),
    counted by torch's FlopCounterMode; the net's state is left as it was (no gradients, eval mode)."""
    import torch  # lazy: keeps torch out of start-up
    from torch.utils.flop_counter import FlopCounterMode  # lazy: keeps torch out of start-up

    training = net.training
    net.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(example)
    finally:
        net.train(training)
    return float(counter.get_total_flops()) * batch


def describe(flops: float) -> str:
    if flops == SMALL:
        return "small ops"
    if flops == LARGE:
        return "large ops"
    return f"{flops / 1e9:.2g} GFLOP a batch forward"


OVERSUBSCRIPTION = 4  # the most threads a count may ask for per CPU of the machine


def most_threads() -> int:
    """The ceiling of an explicit count: ``OVERSUBSCRIPTION`` per CPU of the machine. More threads
    than CPUs only wait on each other; a count far beyond makes OpenMP abort allocating their stacks."""
    return OVERSUBSCRIPTION * (os.cpu_count() or 1)


def parse_setting(setting: Any, key: str = "train.threads") -> int | None:
    """``auto`` -> None; a whole number from 1 to ``most_threads()`` -> that number; anything else is
    a one-line error."""
    text = str(setting).strip()
    if text == "auto":
        return None
    if not (text.isdigit() and int(text) >= 1):
        raise ConfigError(f"{key}={setting}: choose auto or a whole number of threads >= 1")
    if int(text) > most_threads():
        raise ConfigError(f"{key}={setting}: more than {most_threads()} threads ({OVERSUBSCRIPTION} per CPU of this "
                          f"machine's {os.cpu_count() or 1}); choose auto or a number from 1 to {most_threads()}")
    return int(text)


def torch_default() -> int | None:
    """The count torch starts with when no variable sets it: the machine's physical cores (cpuinfo's
    count, over every online CPU), read from sysfs; None where sysfs does not say."""
    root = "/sys/devices/system/cpu"
    try:
        online = open(f"{root}/online").read().strip()
        cpus = [n for part in online.split(",") for n in _span(part)]
        found = {(open(f"{root}/cpu{n}/topology/physical_package_id").read().strip(),
                  open(f"{root}/cpu{n}/topology/core_id").read().strip()) for n in cpus}
    except (OSError, ValueError):
        return None
    return len(found) or None


def _span(part: str) -> range:
    first, _, last = part.partition("-")
    return range(int(first), int(last or first) + 1)


_applied: list[int] = []  # the count this process last set by the policy


def resolve(setting: Any, flops: float, env: Mapping[str, str] | None = None, n_cores: int | None = None,
            key: str = "train.threads", current: int | None = None, default: int | None = None) -> tuple[int, str]:
    """The thread count and why it was chosen (a phrase for the log). ``current`` is torch's count
    now and ``default`` the one it starts with: a count that is neither, nor one this policy set,
    was set by the caller."""
    env = os.environ if env is None else env
    explicit = parse_setting(setting, key)
    if explicit is not None:
        return explicit, f"{key}={explicit}"
    for name in ENV_KEYS:
        value = env.get(name, "").strip()
        if value.isdigit() and int(value) >= 1:
            return int(value), f"{name}={value}"
    if current is not None and default is not None and current != default and current not in _applied[-1:]:
        return current, "set with torch.set_num_threads before the run"
    n_cores = cores() if n_cores is None else n_cores
    chosen = choose_threads(flops, n_cores)
    return chosen, f"auto: {describe(flops)} on {n_cores} core{'s' if n_cores != 1 else ''}"


def apply(setting: Any, flops: float, key: str = "train.threads") -> tuple[int, bool]:
    """Set torch's intra-op thread count by the policy and log the choice; returns it, and whether
    ``auto`` chose it."""
    import torch  # lazy: keeps torch out of start-up

    n, why = resolve(setting, flops, key=key, current=torch.get_num_threads(), default=torch_default())
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _applied[:] = [n]
    log.info("CPU threads: %d (%s)", n, why)
    return n, why.startswith("auto")


def add_option(parser: Any) -> None:
    """A command's ``--threads`` option (argparse)."""
    def checked(text: str) -> str:  # refused as the command line is read, before any work
        try:
            parse_setting(text, "--threads")
        except ConfigError as ex:
            raise argparse.ArgumentTypeError(str(ex)) from None
        return text

    parser.add_argument("--threads", default="auto", metavar="auto|N", type=checked,
                        help="CPU threads: auto (by the work; OMP_NUM_THREADS wins) or a number (default auto)")


@contextlib.contextmanager
def during(flops: float, auto: bool) -> Iterator[None]:
    """Within the block, the ``auto`` choice for work of ``flops`` where the run's own count was
    chosen by ``auto`` (a count the user set stays); the run's count after. For phases whose
    results feed nothing back into training: FID's Inception is large work inside a small run."""
    import torch  # lazy: keeps torch out of start-up

    before = torch.get_num_threads()
    n = choose_threads(flops, cores()) if auto else before
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
