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
from wgan_cli.training.evaluation import CRITIC_TAG, eval_mode, evaluate, log_evaluation
from wgan_cli.training.state import save_checkpoint

if TYPE_CHECKING:
    from wgan_cli.tracking import Tracker
    from wgan_cli.training.trainer import Trainer


class Periodic:
    busy = ""  # what the progress bar says while the task runs ("" = nothing: it is quick)

    def __init__(self, every: int) -> None:
        self.every = every

    def due(self, step: int, last: bool, stopping: bool) -> bool:
        return last or bool(self.every and step % self.every == 0)

    def run(self, t: Trainer, tracker: Tracker, stats: dict[str, Tensor], results: dict[str, float]) -> None:
        raise NotImplementedError


class LogLosses(Periodic):
    """The losses of the step just taken (the global batch's), and the progress bar."""


    def __init__(self, every: int, gap_label: str) -> None:
        super().__init__(every)
        self.gap_label = gap_label

    def run(self, t, tracker, stats, results) -> None:  # noqa: ANN001 - as Periodic.run
        values = {k: v.item() for k, v in stats.items()}
        tracker.scalars({k: v for k, v in values.items() if k.startswith("loss/")}, t.state.step)
        if t.state.skipped:
            tracker.scalars({"train/skipped_updates": t.state.skipped}, t.state.step)
        tracker.progress.update(t.state.step, {self.gap_label: values["w1/critic_batch"]})


class Evaluate(Periodic):
    """W1 against ground truth (``training/evaluation.py``); keeps the lowest ``w1/exact``."""

    busy = "evaluating"

    def run(self, t, tracker, stats, results) -> None:  # noqa: ANN001 - as Periodic.run
        for key in [k for k in results if k.startswith(("w1/", "gap/", "lipschitz/"))]:
            del results[key]  # a ratio logged only at some evaluations must not outlive them
        done = evaluate(t)
        log_evaluation(t, tracker, done)
        results.update(done.metrics)
        t.state.records.keep_best("w1/exact", results["w1/exact"])
        tracker.progress.evaluated(t.state.step, {"exact": results["w1/exact"], "floor": results["w1/noise_floor"]})
        t.note_quality(results)
        t.state.records.remember(t.state.step, results, (CRITIC_TAG[t.critic_is_w1], "w1/exact"))


class Fid(Periodic):
    """FID of the sampling generator, on its own random stream; the best step is ``best.pt``."""

    busy = "FID"

    def run(self, t, tracker, stats, results) -> None:  # noqa: ANN001 - as Periodic.run
        fid_rng = t.fid.rng(t.state.step)  # its own stream: FID never changes training
        with threads.during(threads.LARGE, t.threads_auto):  # Inception: every core (training is untouched)
            scores = t.fid.evaluate(t.sampler, lambda n: t.noise(n, fid_rng))
        tracker.scalars(scores, t.state.step)
        results.update(scores)
        t.note_quality(results)
        t.state.records.remember(t.state.step, scores, (t.fid.tag,))
        if t.state.records.keep_best(t.fid.tag, scores[t.fid.tag]):
            save_checkpoint(t, best=True)


class MeasureWithProbe(Periodic):
    """``w1/probe``: the held-out critic's reading (``training/probe.py``), after the evaluation."""

    busy = "probe"

    def run(self, t, tracker, stats, results) -> None:  # noqa: ANN001 - as Periodic.run
        values = t.probe.measure(t.data, t.sampler, t.noise)
        if t.critic_is_w1 and "w1/critic" in results and values["w1/probe"] > 0:  # an evaluation at this step
            values["w1/critic_probe_ratio"] = results["w1/critic"] / values["w1/probe"]
        tracker.scalars(values, t.state.step)
        results.update(values)
        t.state.records.remember(t.state.step, values, ("w1/probe",))


class Checkpoint(Periodic):
    """``checkpoints/last.pt``: also when a signal asks the run to stop."""


    def due(self, step: int, last: bool, stopping: bool) -> bool:
        return stopping or super().due(step, last, stopping)

    def run(self, t, tracker, stats, results) -> None:  # noqa: ANN001 - as Periodic.run
        save_checkpoint(t)


@dataclass(frozen=True)
class TaskContext:
    """What a task of ``tasks.<name>`` sees of the run: the plugin API, and all of it.

    ``step``: the generator step just taken; ``device``; ``sampler``: the generator samples and
    metrics come from (the EMA copy once averaging has begun); ``critic``: the critic network;
    ``data``: the run's data source, ``data.sample(n, generator)`` and ``data.shape``;
    ``noise(n, generator)``: latent codes for ``sampler``; ``rng``: the task's own random stream on
    ``device``, seeded by (seed, task, step), so a task never moves training's stream and a resumed
    run draws what an uninterrupted one draws; ``results``: the values already computed at this
    step, read-only (``w1/exact`` at an evaluation step, FID at a FID step)."""

    step: int
    device: torch.device
    sampler: nn.Module
    critic: nn.Module
    data: Any
    noise: Callable[[int, torch.Generator], Tensor]
    rng: torch.Generator
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
        self.cfg = cfg

    def measure(self, ctx: TaskContext) -> dict[str, float]:
        raise NotImplementedError

    def run(self, t, tracker, stats, results) -> None:  # noqa: ANN001 - as Periodic.run
        rng = torch.Generator(t.device).manual_seed(task_seed(t.cfg.seed, self.cfg.name, t.state.step))
        ctx = TaskContext(step=t.state.step, device=t.device, sampler=t.sampler, critic=t.nets.D, data=t.data, noise=t.noise,
                          rng=rng, results=MappingProxyType(dict(results)))
        values = {k: float(v) for k, v in self.measure(ctx).items()}
        tracker.scalars(values, t.state.step)
        results.update(values)


__all__ = ["TASKS", "Periodic", "Task", "TaskContext", "periodic_tasks"]


def periodic_tasks(t: Trainer, gap_label: str) -> list[Periodic]:
    """The run's tasks, in the order they run within a step."""
    cfg = t.cfg
    tasks: list[Periodic] = [LogLosses(cfg.log_every, gap_label), Evaluate(cfg.eval.every)]
    if t.probe is not None:
        tasks.append(MeasureWithProbe(cfg.probe.every))
    if t.fid is not None:
        tasks.append(Fid(cfg.fid.every))
    tasks.extend(TASKS.build(node) for node in task_configs(cfg))
    tasks.append(Checkpoint(cfg.checkpoint.every))
    return tasks
