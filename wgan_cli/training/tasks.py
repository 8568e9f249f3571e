"""The periodic tasks of the loop, each with its own cadence (its config key) and one ``run``.

A task is due every ``every`` generator steps and at the last step (``every = 0``: only at the
end); the checkpoint is also due when a signal asks the run to stop. The loop runs the due tasks in
this order: losses, evaluation, the probe, FID, the config's ``tasks`` (metrics from other packages: a
``Task`` subclass registered in ``TASKS``, see docs/extending.md), checkpoint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Mapping

import torch
from torch import Tensor, nn

from wgan_cli import threads
from wgan_cli.schema.task import TASKS, task_configs
from wgan_cli.training.evaluation import eval_mode
from wgan_cli.training.state import save_checkpoint

if TYPE_CHECKING:
    from wgan_cli.metrics.fid_monitor import FidMonitor
    from wgan_cli.tracking import Tracker
    from wgan_cli.training.evaluation import Evaluator
    from wgan_cli.training.probe import Probe
    from wgan_cli.training.run_state import RunState
    from wgan_cli.training.trainer import Trainer

QualityMet = Callable[[Mapping[str, float]], bool]  # the run's results -> whether they meet its quality bar


class Periodic:
    """A task of the loop: due every ``every`` generator steps and at the last one. ``run`` gets
    the step's ``TaskContext``, logs what it measures and returns the values the run keeps (its
    results, ``summary.json``); ``replaces``: prefixes of earlier results its values supersede."""

    name = ""  # its random stream's name (``TaskContext.rng``)
    busy = ""  # what the progress bar says while the task runs ("" = nothing: it is quick)
    replaces: tuple[str, ...] = ()

    def __init__(self, every: int) -> None:
        self.every = every

    def due(self, step: int, last: bool, stopping: bool) -> bool:
        return last or bool(self.every and step % self.every == 0)

    def run(self, ctx: TaskContext, tracker: Tracker) -> dict[str, float]:
        raise NotImplementedError


class LogLosses(Periodic):
    """The losses of the step just taken (the global batch's), and the progress bar."""

    name = "losses"

    def __init__(self, every: int, gap_label: str, state: RunState) -> None:
        super().__init__(every)
        self.gap_label, self.state = gap_label, state

    def run(self, ctx: TaskContext, tracker: Tracker) -> dict[str, float]:
        values = {k: v.item() for k, v in ctx.losses.items()}
        tracker.scalars({k: v for k, v in values.items() if k.startswith("loss/")}, ctx.step)
        if self.state.skipped:
            tracker.scalars({"train/skipped_updates": self.state.skipped}, ctx.step)
        tracker.progress.update(ctx.step, {self.gap_label: values["w1/critic_batch"]})
        return {}


class Evaluate(Periodic):
    """W1 against ground truth (``training/evaluation.py``); keeps the lowest ``w1/exact``."""

    name, busy = "evaluation", "evaluating"
    replaces = ("w1/", "gap/", "lipschitz/")  # a ratio logged only at some evaluations must not outlive them

    def __init__(self, every: int, evaluator: Evaluator, state: RunState, quality_met: QualityMet) -> None:
        super().__init__(every)
        self.evaluator, self.state, self.quality_met = evaluator, state, quality_met

    def run(self, ctx: TaskContext, tracker: Tracker) -> dict[str, float]:
        done = self.evaluator.evaluate(ctx.step, ctx.sampler, ctx.critic, ctx.noise)
        self.evaluator.log(tracker, ctx.step, done, ctx.sampler, ctx.critic, self.state.fixed_noise)
        values, records = done.metrics, self.state.records
        records.keep_best("w1/exact", values["w1/exact"])
        tracker.progress.evaluated(ctx.step, {"exact": values["w1/exact"], "floor": values["w1/noise_floor"]})
        records.note_quality(ctx.step, self.quality_met({**ctx.results, **values}))
        records.remember(ctx.step, values, (self.evaluator.critic_tag, "w1/exact"))
        return values


class Fid(Periodic):
    """FID of the sampling generator, on its own random stream; the best step is ``best.pt``."""

    name, busy = "fid", "FID"

    def __init__(self, every: int, monitor: FidMonitor, state: RunState, quality_met: QualityMet,
                 save_best: Callable[[], Any], threads_auto: bool) -> None:
        super().__init__(every)
        self.monitor, self.state, self.quality_met = monitor, state, quality_met
        self.save_best, self.threads_auto = save_best, threads_auto

    def run(self, ctx: TaskContext, tracker: Tracker) -> dict[str, float]:
        fid_rng = self.monitor.rng(ctx.step)  # its own stream: FID never changes training
        with threads.during(threads.LARGE, self.threads_auto):  # Inception: every core (training is untouched)
            scores = self.monitor.evaluate(ctx.sampler, lambda n: ctx.noise(n, fid_rng))
        tracker.scalars(scores, ctx.step)
        records, tag = self.state.records, self.monitor.tag
        records.note_quality(ctx.step, self.quality_met({**ctx.results, **scores}))
        records.remember(ctx.step, scores, (tag,))
        if records.keep_best(tag, scores[tag]):
            self.save_best()
        return scores


class MeasureWithProbe(Periodic):
    """``w1/probe``: the held-out critic's reading (``training/probe.py``), after the evaluation."""

    name, busy = "probe", "probe"

    def __init__(self, every: int, probe: Probe, state: RunState, critic_is_w1: bool) -> None:
        super().__init__(every)
        self.probe, self.state, self.critic_is_w1 = probe, state, critic_is_w1

    def run(self, ctx: TaskContext, tracker: Tracker) -> dict[str, float]:
        values = self.probe.measure(ctx.data, ctx.sampler, ctx.noise)
        if self.critic_is_w1 and "w1/critic" in ctx.results and values["w1/probe"] > 0:  # an evaluation at this step
            values["w1/critic_probe_ratio"] = ctx.results["w1/critic"] / values["w1/probe"]
        tracker.scalars(values, ctx.step)
        self.state.records.remember(ctx.step, values, ("w1/probe",))
        return values


class Checkpoint(Periodic):
    """``checkpoints/last.pt``: also when a signal asks the run to stop."""

    name = "checkpoint"

    def __init__(self, every: int, save: Callable[[], Any]) -> None:
        super().__init__(every)
        self.save = save

    def due(self, step: int, last: bool, stopping: bool) -> bool:
        return stopping or super().due(step, last, stopping)

    def run(self, ctx: TaskContext, tracker: Tracker) -> dict[str, float]:
        self.save()
        return {}


@dataclass(frozen=True)
class TaskContext:
    """What a task of ``tasks.<name>`` sees of the run: the plugin API, and all of it.

    ``step``: the generator step just taken; ``device``; ``sampler``: the generator samples and
    metrics come from (the EMA copy once averaging has begun); ``critic``: the critic network;
    ``data``: the run's data source, ``data.sample(n, generator)`` and ``data.shape``;
    ``noise(n, generator)``: latent codes for ``sampler``; ``rng``: the task's own random stream on
    ``device``, seeded by (seed, task, step), so a task never moves training's stream and a resumed
    run draws what an uninterrupted one draws; ``losses``: the step's training losses and the
    critic's batch estimate ``w1/critic_batch``, tensors, read-only; ``results``: the values already
    computed, read-only (``w1/exact`` at an evaluation step, FID at a FID step)."""

    step: int
    device: torch.device
    sampler: nn.Module
    critic: nn.Module
    data: Any
    noise: Callable[[int, torch.Generator], Tensor]
    rng: torch.Generator
    losses: Mapping[str, Tensor]
    results: Mapping[str, float]

    def draw(self, n: int) -> tuple[Tensor, Tensor]:
        """``n`` real and ``n`` generated samples from the task's stream, the generator in eval mode
        and without gradients, as the evaluation draws them."""
        with eval_mode(self.sampler), torch.no_grad():
            return self.data.sample(n, self.rng), self.sampler(self.noise(n, self.rng))


def task_seed(seed: int, name: str, step: int) -> int:
    """A task's seed at a step: a hash of (run seed, task name, step), 63 bits."""
    digest = hashlib.sha256(f"{seed}/{name}/{step}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class Task(Periodic):
    """A task of ``tasks.<name>``, built from its config node (its schema's values), which it keeps
    as ``cfg``; ``tasks.<name>.every`` is its cadence. A subclass implements ``measure``: it gets a
    ``TaskContext`` and returns the values to log (TensorBoard, at this step) and to keep in the
    run's results (``summary.json``). Tasks run on rank 0 only, after the evaluation and FID of the
    same step and before the checkpoint."""

    def __init__(self, cfg) -> None:  # noqa: ANN001 - the task's config node
        super().__init__(cfg.every)
        self.cfg, self.name = cfg, cfg.name

    def measure(self, ctx: TaskContext) -> dict[str, float]:
        raise NotImplementedError

    def run(self, ctx: TaskContext, tracker: Tracker) -> dict[str, float]:
        values = {k: float(v) for k, v in self.measure(ctx).items()}
        tracker.scalars(values, ctx.step)
        return values


__all__ = ["TASKS", "Periodic", "Task", "TaskContext", "periodic_tasks"]


def context(t: Trainer, name: str, losses: Mapping[str, Tensor], results: Mapping[str, float]) -> TaskContext:
    """The context of task ``name`` at the trainer's step: its own stream seeded by (seed, name, step)."""
    step = t.state.step
    rng = torch.Generator(t.device).manual_seed(task_seed(t.cfg.seed, name, step))
    return TaskContext(step=step, device=t.device, sampler=t.sampler, critic=t.nets.D, data=t.data, noise=t.noise,
                       rng=rng, losses=MappingProxyType(losses), results=MappingProxyType(dict(results)))


def periodic_tasks(t: Trainer, gap_label: str) -> list[Periodic]:
    """The run's tasks, in the order they run within a step, each given what it reads and keeps."""
    cfg, state = t.cfg, t.state
    tasks: list[Periodic] = [LogLosses(cfg.log_every, gap_label, state),
                             Evaluate(cfg.eval.every, t.evaluator, state, t.quality_met)]
    if t.probe is not None:
        tasks.append(MeasureWithProbe(cfg.probe.every, t.probe, state, t.critic_is_w1))
    if t.fid is not None:
        tasks.append(Fid(cfg.fid.every, t.fid, state, t.quality_met, lambda: save_checkpoint(t, best=True),
                         t.threads_auto))
    tasks.extend(TASKS.build(node) for node in task_configs(cfg))
    tasks.append(Checkpoint(cfg.checkpoint.every, lambda: save_checkpoint(t)))
    return tasks
