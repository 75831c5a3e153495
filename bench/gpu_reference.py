"""(Copied unchanged from the team's reference, ../shared/reference/gpu_baseline.py; bench/gpu_resnet18.py runs it.)

Anchor benchmark: ResNet-18 (CIFAR variant) training throughput on one GPU.

Plain Keras 3 (JAX / torch backends) against hand-written PyTorch, same model,
same batch, bf16 mixed precision, synthetic CIFAR-shaped data.
Usage: python gpu_baseline.py VARIANT   (one variant per process)
"""
import json
import os
import sys
import time

N, B, EPOCHS, CLASSES = 50_000, 512, 4, 10
STAGES = [(64, 1), (128, 2), (256, 2), (512, 2)]


def resnet18_train_flops_per_image(h=32):
    macs, c_in, size = h * h * 3 * 64 * 9, 64, h
    for width, stride in STAGES:
        for blk in range(2):
            s = stride if blk == 0 else 1
            size_out = size // s
            macs += size_out * size_out * c_in * width * 9
            macs += size_out * size_out * width * width * 9
            if s != 1 or c_in != width:
                macs += size_out * size_out * c_in * width
            c_in, size = width, size_out
    macs += 512 * CLASSES
    return 3 * 2 * macs  # forward + backward ~ 3x forward


def keras_variant(backend, steps_per_execution):
    os.environ["KERAS_BACKEND"] = backend
    import numpy as np
    import keras
    from keras import layers

    keras.mixed_precision.set_global_policy("mixed_bfloat16")

    def block(x, width, stride):
        y = layers.Conv2D(width, 3, stride, padding="same", use_bias=False)(x)
        y = layers.ReLU()(layers.BatchNormalization()(y))
        y = layers.Conv2D(width, 3, 1, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        sc = x
        if stride != 1 or x.shape[-1] != width:
            sc = layers.BatchNormalization()(layers.Conv2D(width, 1, stride, use_bias=False)(x))
        return layers.ReLU()(layers.Add()([y, sc]))

    inp = keras.Input((32, 32, 3))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(64, 3, padding="same", use_bias=False)(inp)))
    for width, stride in STAGES:
        x = block(x, width, stride)
        x = block(x, width, 1)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(CLASSES, dtype="float32")(x)
    model = keras.Model(inp, out)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=steps_per_execution,
        jit_compile=(backend != "torch"),
    )
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((N, 32, 32, 3), dtype=np.float32)
    ys = rng.integers(0, CLASSES, N)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t)

    model.fit(xs, ys, batch_size=B, epochs=EPOCHS, shuffle=True, verbose=0, callbacks=[Timer()])
    return times, model.count_params()


def torch_variant(compiled, device_data):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.backends.cudnn.benchmark = True

    class Block(nn.Module):
        def __init__(self, c_in, width, stride):
            super().__init__()
            self.c1 = nn.Conv2d(c_in, width, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(width)
            self.c2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(width)
            self.sc = None
            if stride != 1 or c_in != width:
                self.sc = nn.Sequential(nn.Conv2d(c_in, width, 1, stride, bias=False), nn.BatchNorm2d(width))

        def forward(self, x):
            y = F.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return F.relu(y + (x if self.sc is None else self.sc(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
            blocks, c_in = [], 64
            for width, stride in STAGES:
                blocks += [Block(c_in, width, stride), Block(width, width, 1)]
                c_in = width
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(512, CLASSES)

        def forward(self, x):
            x = self.blocks(self.stem(x))
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    dev = "cuda"
    model = Net().to(dev).to(memory_format=torch.channels_last)
    params = sum(p.numel() for p in model.parameters())
    fwd = torch.compile(model) if compiled else model
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    g = torch.Generator().manual_seed(0)
    xs = torch.randn(N, 3, 32, 32, generator=g).contiguous(memory_format=torch.channels_last)
    ys = torch.randint(0, CLASSES, (N,), generator=g)
    if device_data:
        xs, ys = xs.to(dev), ys.to(dev)
    else:
        xs, ys = xs.pin_memory(), ys.pin_memory()

    def step(xb, yb):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = F.cross_entropy(fwd(xb), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    times = []
    for _ in range(EPOCHS):
        torch.cuda.synchronize()
        t = time.perf_counter()
        perm = torch.randperm(N, device=xs.device)
        for i in range(0, N - B + 1, B):
            idx = perm[i:i + B]
            xb, yb = xs[idx], ys[idx]
            if not device_data:
                xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
            step(xb, yb)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return times, params


VARIANTS = {
    "keras-jax": lambda: keras_variant("jax", 1),
    "keras-jax-spe8": lambda: keras_variant("jax", 8),
    "keras-torch": lambda: keras_variant("torch", 1),
    "torch-eager-device": lambda: torch_variant(False, True),
    "torch-compile-device": lambda: torch_variant(True, True),
    "torch-compile-host": lambda: torch_variant(True, False),
}

if __name__ == "__main__":
    name = sys.argv[1]
    t0 = time.perf_counter()
    times, params = VARIANTS[name]()
    steady = sorted(times[1:])[len(times[1:]) // 2]
    imgs = (N // B) * B if name.startswith("torch") else N
    flops = resnet18_train_flops_per_image()
    rec = {
        "variant": name, "params": params, "epoch_s": [round(t, 3) for t in times],
        "img_per_s": round(imgs / steady), "tflops": round(imgs / steady * flops / 1e12, 1),
        "first_epoch_s": round(times[0], 1), "total_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(rec), flush=True)
