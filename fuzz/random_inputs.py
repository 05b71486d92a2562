"""The fallback both fuzzers share when atheris is absent: the corpus, then random inputs.

Each input is either a seed from the corpus with a few bytes changed, or fresh random bytes.
"""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RandomPlan:
    """How one fuzzer draws its random inputs."""

    seed: int
    mutate_share: float
    """Share of inputs that are mutated corpus seeds (the rest are fresh bytes)."""
    max_mutations: int
    size: tuple[int, int]
    """Length range of fresh random inputs."""
    report_every: int
    unit: str
    """What an input is called in progress lines ("inputs", "tapes")."""


def run_random(check: Callable[[bytes], None], count: int, corpus: list[Path],
               plan: RandomPlan) -> None:
    """Run ``check`` on every corpus file, then on ``count`` random inputs."""
    seeds = [p.read_bytes() for d in corpus for p in sorted(d.glob("*")) if p.is_file()]
    for seed in seeds:
        check(seed)
    rng = random.Random(plan.seed)
    for i in range(count):
        if seeds and rng.random() < plan.mutate_share:
            mutated = bytearray(rng.choice(seeds))
            for _ in range(rng.randint(1, plan.max_mutations)):
                if mutated:
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            data = bytes(mutated)
        else:
            data = rng.randbytes(rng.randint(*plan.size))
        check(data)
        if i % plan.report_every == 0:
            print(f"#{i} random {plan.unit}, ok", flush=True)
    print(f"{len(seeds)} corpus {plan.unit} and {count} random {plan.unit}: no failure")


def fuzz_main(check: Callable[[bytes], None], plan: RandomPlan, default_count: int,
              atheris: Any) -> None:
    """A fuzzer's command line: atheris's (libFuzzer flags), or ``--random N [CORPUS_DIR...]``
    (also when atheris is not installed: ``atheris`` is None)."""
    if "--random" in sys.argv or atheris is None:
        args = [a for a in sys.argv[1:] if a != "--random"]
        count = int(args[0]) if args and args[0].isdigit() else default_count
        run_random(check, count, [Path(a) for a in args if Path(a).is_dir()], plan)
        return
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()
