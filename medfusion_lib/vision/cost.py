"""What an image model costs on this machine: milliseconds per image for inference and for one training step.

Lesson 07 and ``medfusion bench image`` both time the architectures with :func:`cost_per_image`, so the
lesson's table and the benchmark measure the same thing.
"""
from __future__ import annotations

import time

import torch
from torch import nn


def cost_per_image(model: nn.Module, size: int = 28, repeats: int = 3, infer_batch: int = 64,
                   train_batch: int = 32, seed: int = 0) -> dict[str, float]:
    """Wall-clock and CPU milliseconds per image of ``model`` on random ``(B, 1, size, size)`` inputs.

    One warm-up call of each, then ``repeats`` timed inference passes (batch ``infer_batch``, no gradients)
    and ``repeats`` SGD training steps (batch ``train_batch``). Returns ``infer_ms_per_image``,
    ``train_ms_per_image``, ``infer_cpu_ms_per_image`` and ``train_cpu_ms_per_image``. The model's weights
    change (training steps); pass a throw-away copy.
    """
    if repeats < 1 or infer_batch < 1 or train_batch < 1:
        raise ValueError(f"repeats and batch sizes must be >= 1; got {repeats}, {infer_batch}, {train_batch}")
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(max(infer_batch, train_batch), 1, size, size, generator=generator)
    y = torch.randint(0, 2, (len(x),), generator=generator)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)

    def infer():
        model.eval()
        with torch.no_grad():
            model(x[:infer_batch])

    def step():
        model.train()
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x[:train_batch]), y[:train_batch]).backward()
        optimizer.step()

    infer(), step()  # warm-up: first calls pay for allocation
    timings = {}
    for label, func, batch in (("infer", infer, infer_batch), ("train", step, train_batch)):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(repeats):
            func()
        timings[f"{label}_ms_per_image"] = 1000 * (time.perf_counter() - wall) / (repeats * batch)
        timings[f"{label}_cpu_ms_per_image"] = 1000 * (time.process_time() - cpu) / (repeats * batch)
    return timings
