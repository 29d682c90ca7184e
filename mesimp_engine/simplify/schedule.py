"""``PruneSchedule``: when meSimp prunes and when the optimizer is re-initialised.

The cycle mechanism of the meSimp paper: training is divided into cycles of
``cycle_epochs`` epochs, counted from 0 at epoch 1. Even cycles (0, 2, ...) train with
simplification, a prune point every ``interval_examples`` examples; odd cycles train
normally (still with top-k backprop, no records, no pruning). At the start of every cycle
the optimizer state is re-initialised.

The schedule only decides; the trainer acts. A trainer uses it like this::

    schedule = PruneSchedule(interval_examples=7500, cycle_epochs=5)
    for epoch in range(1, epochs + 1):
        schedule.start_epoch(epoch, optimizer, records)   # resets both at a cycle start
        for x, y in batches:
            ...forward, backward, optimizer.step(); if schedule.simplifying: update records
            if schedule.after_step(len(x)):
                schedule.note_widths(prune_mlp_(model, records, prune_rate))
"""

class PruneSchedule:
    """Cycle parity, prune points and optimizer resets, counted in examples and epochs.

    interval_examples: examples between prune points within a simplification cycle (the
    authors' MNIST setting, 8 prune points per epoch of 60,000 examples, is 7,500).
    cycle_epochs: epochs per cycle, or None for no cycle mechanism (every epoch simplifies,
    the optimizer is never reset).

    Prune points fall where the count of examples since the cycle started crosses a
    multiple of ``interval_examples`` (at most one per step), so a mini-batch size that
    does not divide the interval does not drift the number of prune points per epoch.
    Examples left over at the end of a simplification cycle never make a prune point; the
    records restart at the next cycle start.

    Optimizer reset: at a cycle start the moments (and any other state arrays) restart at
    0. ``keep_step`` decides Adam's step counter t, which the paper does not mention:
    - True (the default of ``mesimp-engine train``): t goes on, as in the authors' C# code
      (its ``Adam.Prepare`` clears the moment arrays; the counter ``_times`` is never
      reset). With t large, 1 - beta^t is about 1, so the first steps after a reset use the
      moments' start-up bias uncorrected: m = 0.1 g and v = 0.001 g^2 make the first step
      about 3.2 lr, and the steps stay above lr for a few hundred updates. That burst turns
      some ReLU units off for good; they then carry no gradient and the next prune points
      remove them. On MNIST in the authors' setting it decides the widths: [135, 223] with
      t kept, [261, 253] with t restarted (test 98.06 and 97.93).
    - False: t restarts at 1 with the moments, exactly as in a newly built optimizer.
    (The authors also call ``Prepare`` once per prune interval throughout the last epoch of
    every cycle, not once at the next cycle's start; we reset once, at the cycle start, as
    the paper describes.)

    width_history: (examples_seen, epoch, [width per layer]) appended by ``note_widths``.
    """

    def __init__(self, interval_examples, cycle_epochs=None, keep_step=True):
        if interval_examples < 1:
            raise ValueError(f"PruneSchedule: interval_examples must be >= 1, got {interval_examples}")
        if cycle_epochs is not None and cycle_epochs < 1:
            raise ValueError(f"PruneSchedule: cycle_epochs must be >= 1 or None, got {cycle_epochs}")
        self.interval_examples = int(interval_examples)
        self.cycle_epochs = cycle_epochs
        self.keep_step = keep_step
        self.epoch = 0
        self.examples_seen = 0
        self.cycle_examples = 0
        self.prune_points = 0
        self.width_history = []

    def __repr__(self):
        return (f"PruneSchedule(interval_examples={self.interval_examples}, "
                f"cycle_epochs={self.cycle_epochs}, epoch={self.epoch}, prune_points={self.prune_points})")

    def cycle(self, epoch):
        """The cycle of a 1-based epoch: 0 for epochs 1..cycle_epochs, then 1, ..."""
        if epoch < 1:
            raise ValueError(f"PruneSchedule: epochs count from 1, got {epoch}")
        return 0 if self.cycle_epochs is None else (epoch - 1) // self.cycle_epochs

    def simplifies(self, epoch):
        """True when ``epoch`` lies in an even (simplification) cycle."""
        return self.cycle(epoch) % 2 == 0

    def cycle_starts(self, epoch):
        """True when ``epoch`` is the first epoch of a cycle (never without cycles)."""
        return self.cycle_epochs is not None and (epoch - 1) % self.cycle_epochs == 0

    @property
    def simplifying(self):
        """True while the current epoch (the last ``start_epoch``) simplifies."""
        return self.epoch >= 1 and self.simplifies(self.epoch)

    def start_epoch(self, epoch, optimizer=None, records=()):
        """Enter ``epoch`` (1-based). Returns True at a cycle start, where the optimizer
        state must be re-initialised and the activity records cleared; when ``optimizer``
        (``reset_state(keep_step)``) and ``records`` (``reset()``) are given, that is done here."""
        self.cycle(epoch)
        if epoch <= self.epoch:
            raise ValueError(f"PruneSchedule: epoch {epoch} after epoch {self.epoch}")
        self.epoch = epoch
        start = self.cycle_starts(epoch)
        if start:
            self.cycle_examples = 0
            if optimizer is not None:
                optimizer.reset_state(keep_step=self.keep_step)
            for r in records:
                r.reset()
        return start

    def after_step(self, n_examples):
        """Count a step of ``n_examples``; True when it reaches a prune point."""
        if self.epoch < 1:
            raise RuntimeError("PruneSchedule: call start_epoch before after_step")
        self.examples_seen += n_examples
        if not self.simplifying:
            return False
        before = self.cycle_examples // self.interval_examples
        self.cycle_examples += n_examples
        if self.cycle_examples // self.interval_examples > before:
            self.prune_points += 1
            return True
        return False

    def note_widths(self, widths):
        """Append (examples_seen, epoch, widths) to ``width_history``."""
        self.width_history.append((self.examples_seen, self.epoch, [int(w) for w in widths]))
