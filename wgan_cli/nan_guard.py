"""Non-finite losses under ``train.on_nan=stop``, found without a host synchronization per step.

Each update's loss values are copied into a buffer on the device (one small kernel); ``first_bad``
checks the buffer with one ``isfinite`` and one copy to the host. The trainer asks at every step
where it touches the host anyway (logging, evaluation, FID, checkpoints, a stop request) and when
the buffer is full, so a divergence is reported with the step where it began and no checkpoint is
ever written after it. (Keeping the loss tensors themselves would pin thousands of small blocks:
on CPU that fragments the heap, 200 MiB of RSS over the toy benchmark's rounds.)
"""

from __future__ import annotations

import torch
from torch import Tensor


class LossWatch:
    def __init__(self, device: torch.device, capacity: int = 4096) -> None:
        self.values = torch.empty(capacity, device=device)
        self.index: list[tuple[int, int, str]] = []  # (step, update, term) of each filled slot
        self.updates = 0

    def room(self) -> int:
        return len(self.values) - len(self.index)

    def add(self, step: int, terms: dict[str, Tensor | None]) -> None:
        """The loss terms of one optimizer update at generator step ``step`` (at most ``room()``)."""
        named = [(name, t) for name, t in terms.items() if t is not None]
        if not named:
            return
        self.updates += 1
        n = len(self.index)
        torch.stack([t.detach().float().reshape(()) for _, t in named], out=self.values[n:n + len(named)])
        self.index += [(step, self.updates, name) for name, _ in named]

    def first_bad(self) -> tuple[int, dict[str, float]] | None:
        """The step of the first update with a non-finite term, and that update's non-finite
        terms; or None. Empties the buffer."""
        if not self.index:
            return None
        index, self.index = self.index, []
        values = self.values[:len(index)].cpu()
        bad = (~torch.isfinite(values)).nonzero().flatten().tolist()
        if not bad:
            return None
        step, update, _ = index[bad[0]]
        return step, {index[i][2]: values[i].item() for i in bad if index[i][1] == update}
