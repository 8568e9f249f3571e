"""The logging path: TensorBoard scalars and figures in ``<run_dir>/tb`` and a progress
display (a tqdm bar on a terminal, periodic log lines otherwise).

Tags shared with dashboards and later tools:
``w1/critic`` (KR estimate on held-out data, no penalty; ``gap/critic`` where the critic's gap is
no W1 estimate: hinge or non-saturating loss, a divergence penalty), ``w1/exact`` (POT network simplex),
``w1/critic_ratio`` (critic / exact, while exact >= 3x the floor),
``w1/noise_floor`` (exact W1 between two real draws), ``loss/*``, ``lipschitz/*``, ``samples/*``.
Each series of the W1 chart is also written as ``w1/bracket`` in a sub-run of its own
(``tb/critic``, ``tb/probe``, ``tb/exact``, ``tb/noise_floor``): TensorBoard colours lines by run,
so one chart draws them in their own colours, named by run in its legend and tooltip.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Mapping

from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from wgan_cli.errors import write_failed
from wgan_cli.rundir import RunDir
from wgan_cli.sweep import write_hparams

log = logging.getLogger("wgan_cli")

BRACKET = "w1/bracket"  # the tag of every W1 series in its sub-run
SERIES = {"w1/critic": "critic", "gap/critic": "critic_gap", "w1/probe": "probe", "w1/exact": "exact",
          "w1/noise_floor": "noise_floor"}  # tag in tb/ -> its sub-run tb/<name>

def compare_layout(critic_is_w1: bool, probe: bool, fid_tag: str | None, images: bool) -> dict:
    """A sweep's charts of one line per job (TensorBoard draws a tag once per run, and each job's
    ``tb/`` is one run, named by its dir: ``0_critic=gp/tb``): the numbers jobs are compared on.
    The sample's exact W1 only off images, where it is close to the truth (on images it is mostly
    sampling bias); the probe, FID and the critic / probe ratio where the run logs them."""
    charts = {}
    if not images:
        charts["w1/exact, one line per job (unsmoothed; biased up by about the noise floor)"] = ["Multiline", ["^w1/exact$"]]
    if probe:
        charts["w1/probe, one line per job (a held-out lower bound on W1)"] = ["Multiline", ["^w1/probe$"]]
    if fid_tag:
        charts[f"{fid_tag}, one line per job"] = ["Multiline", [f"^{re.escape(fid_tag)}$"]]
    if probe and critic_is_w1:
        charts["critic estimate / probe, one line per job (1 = the critic measures what the probe does)"] = [
            "Multiline", ["^w1/critic_probe_ratio$"]]
    return charts


def layout(critic_is_w1: bool, critic_free: bool = False, probe: bool = False, fid_tag: str | None = None,
           images: bool = False, in_sweep: bool = False) -> dict:
    """The custom-scalars page: in a sweep, the jobs compared first (``compare_layout``), then each
    job's W1 charts (``w1_layout``)."""
    charts = {"Compare the sweep's jobs": compare_layout(critic_is_w1, probe, fid_tag, images)} if in_sweep else {}
    return {**charts, **w1_layout(critic_is_w1, critic_free, probe)}


def w1_layout(critic_is_w1: bool, critic_free: bool = False, probe: bool = False) -> dict:
    """The custom-scalars charts: the bracket probe <= W1 <= exact (the exact W1 of n samples is
    biased up by about the noise floor; a 1-Lipschitz function read on held-out samples is a
    lower bound) with the training critic's estimate beside it (a lower bound only where the
    critic is 1-Lipschitz: the SN-GAN CNN's is not), the ratio critic / exact where it means
    something (exact >= 3x the floor); with the probe, critic / probe at every reading."""
    if critic_free:
        title = "Sinkhorn divergence (no critic network) vs exact W1 vs noise floor"
    elif critic_is_w1:
        title = "critic estimate (<= W1 where the critic is 1-Lipschitz) vs exact W1 (biased up by about the noise floor)"
    else:
        title = "critic mean gap (not a W1 estimate under this loss) vs exact W1 vs noise floor"
    # tags are regular expressions to TensorBoard (searched, not matched): anchored, so that
    # w1/critic does not also draw w1/critic_scaled
    if probe:
        title = "probe <= W1 <= exact W1 (biased up by about the noise floor); " + title.split(" vs exact W1")[0]
    charts = {title: ["Multiline", [f"^{BRACKET}$"]]}  # one line per sub-run: tb/critic, tb/exact, ...
    if critic_is_w1:
        charts["critic estimate / exact W1 (while exact >= 3x noise floor; 1 = the critic finds W1)"] = [
            "Multiline", ["^w1/critic_ratio$"]]
        if probe:
            charts["critic estimate / probe (at every probe reading; 1 = the critic measures what the probe does)"] = [
                "Multiline", ["^w1/critic_probe_ratio$"]]
    return {"Wasserstein-1": charts}


class Tracker:
    """The run's TensorBoard writer. A failed write (a full disk) is one ``WriteError`` naming the
    event file, raised in the training thread at the next write, not a writer-thread traceback."""

    def __init__(self, run_dir: Path, total_steps: int, start_step: int = 0, critic_is_w1: bool = True,
                 critic_free: bool = False, probe: bool = False, fid_tag: str | None = None, images: bool = False,
                 in_sweep: bool = False) -> None:
        self.restore_excepthook = quiet_writer_threads()
        self.events = RunDir(run_dir).events
        self.purge_step = start_step + 1  # a resume drops the points logged after its checkpoint
        self.series: dict[str, SummaryWriter] = {}  # sub-run name -> its writer, opened at its first point
        with self.writing():
            self.writer = SummaryWriter(log_dir=str(self.events), purge_step=self.purge_step)
            self.writer.add_custom_scalars(layout(critic_is_w1, critic_free, probe, fid_tag, images, in_sweep))
            if not critic_is_w1:
                self.writer.add_text(
                    "gap/critic", "gap/critic is the critic's mean gap E f(real) - E f(fake) under a "
                    "non-Wasserstein loss: comparable across runs, but not a W1 estimate.", start_step,
                )
        self.progress = Progress(total_steps, start_step)

    @contextmanager
    def writing(self) -> Iterator[None]:
        try:
            yield
        except OSError as ex:
            files = sorted(self.events.glob("events.out.tfevents.*"))
            raise write_failed(ex, files[-1] if files else self.events, "the checkpoints are not affected") from None

    def scalars(self, values: Mapping[str, float], step: int) -> None:
        with self.writing():
            for tag, value in values.items():
                self.writer.add_scalar(tag, value, step)
                if tag in SERIES:
                    self.sub_run(SERIES[tag]).add_scalar(BRACKET, value, step)

    def sub_run(self, name: str) -> SummaryWriter:
        if name not in self.series:
            self.series[name] = SummaryWriter(log_dir=str(self.events / name), purge_step=self.purge_step)
        return self.series[name]

    def hparams(self, cfg, metric_tags: list[str]) -> None:  # noqa: ANN001 - the run's config
        with self.writing():
            write_hparams(self.writer, cfg, metric_tags)

    def text(self, tag: str, text: str, step: int) -> None:
        with self.writing():
            self.writer.add_text(tag, text, step)

    def histogram(self, tag: str, values, step: int) -> None:  # noqa: ANN001 - a tensor
        with self.writing():
            self.writer.add_histogram(tag, values.detach().float().cpu(), step)

    def figure(self, tag: str, fig, step: int) -> None:  # noqa: ANN001 - matplotlib Figure
        with self.writing():
            self.writer.add_figure(tag, fig, step, close=True)

    def image(self, tag: str, image, step: int) -> None:  # noqa: ANN001 - CHW tensor in [0, 1]
        with self.writing():
            self.writer.add_image(tag, image, step)

    def close(self) -> None:
        self.progress.close()
        try:
            with self.writing():
                self.writer.close()
                for writer in self.series.values():
                    writer.close()
        finally:
            self.restore_excepthook()


def quiet_writer_threads() -> Callable[[], None]:
    """TensorBoard's writer thread stores a failed write's OSError for the training thread (which
    raises it at its next write, see ``Tracker.writing``) and also lets it escape, which prints a
    traceback; that second report is dropped while the tracker is open. Returns the function that
    puts the previous ``threading.excepthook`` back (where no one replaced ours since)."""
    hook = threading.excepthook

    def quiet(args: threading.ExceptHookArgs) -> None:
        writer = type(args.thread).__module__.startswith("tensorboard.summary.writer")  # its event-file thread
        if not (writer and issubclass(args.exc_type, OSError)):
            hook(args)

    threading.excepthook = quiet

    def restore() -> None:
        if threading.excepthook is quiet:
            threading.excepthook = hook

    return restore


class Progress:
    """tqdm on a terminal; without one, a log line every tenth of the run."""

    def __init__(self, total: int, start: int = 0) -> None:
        self.total, self.start_time = total, time.perf_counter()
        self.start_step = start
        self.bar = None
        self.next_line = start
        self.evaluation = ""  # the last evaluation's exact W1 and floor, shown beside the critic's estimate
        if sys.stderr.isatty():
            self.bar = tqdm(total=total, initial=start, unit="step", dynamic_ncols=True, file=sys.stderr)

    def tick(self, step: int) -> None:
        """Generator step ``step`` finished: the bar moves (tqdm redraws at most every 0.1 s)."""
        if self.bar is not None:
            self.bar.update(step - self.bar.n)

    @contextmanager
    def doing(self, what: str) -> Iterator[None]:
        """The bar says ``what`` (``evaluating``, ``FID``) while a long task runs."""
        if self.bar is None or not what:
            yield
            return
        self.bar.set_description_str(what, refresh=True)
        try:
            yield
        finally:
            self.bar.set_description_str("", refresh=True)

    def evaluated(self, step: int, values: Mapping[str, float]) -> None:
        """An evaluation's values (exact W1, its floor), shown from now on with the step they belong to."""
        shown = " ".join(f"{k}={v:.4g}" for k, v in values.items())
        self.evaluation = f"; {shown} (evaluated at {step})" if shown else ""

    def update(self, step: int, postfix: Mapping[str, float]) -> None:
        """The values logged at generator step ``step``, shown with the step they belong to."""
        if self.bar is not None:
            self.bar.update(step - self.bar.n)
            if postfix:
                shown = " ".join(f"{k}={v:.4g}" for k, v in postfix.items())
                self.bar.set_postfix_str(f"{shown} (step {step}){self.evaluation}", refresh=False)
        elif step >= self.next_line or step == self.total:
            elapsed = time.perf_counter() - self.start_time
            rate = (step - self.start_step) / elapsed if elapsed > 0 else float("nan")
            extra = " ".join(f"{k}={v:.4g}" for k, v in postfix.items())
            log.info("step %d/%d (%.1f it/s) %s%s", step, self.total, rate, extra, self.evaluation)
            self.next_line = step + max(1, self.total // 10)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
