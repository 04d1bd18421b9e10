"""One LeNet epoch on MNIST: corenn's numpy backend against a plain PyTorch CPU loop.

Both train the preset ``lenet-mnist``'s network (conv 6@5x5 same relu, max-pool 2x2/2, conv
16@5x5 valid relu, max-pool 2x2/2, flatten, fc 120 relu, fc 84 relu, fc 10 softmax) for one
epoch over the same 55,000 standardised training images, in the same shuffled order, with the
same batch size, dtype, optimizer and learning-rate schedule (the preset's). corenn runs through
its own Trainer, exactly as ``corenn train --preset lenet-mnist`` does; torch runs the usual
``zero_grad / forward / cross_entropy / backward / step`` loop on CPU tensors.

Each epoch runs in a fresh subprocess, so the peak memory it reports is its own; the backends
take turns ``--repeats`` times (default 3) and the fastest epoch of each is compared (on a
shared machine a slow spell lasts seconds: single epochs of either varied by 20%). Beside the
wall time, each reports the epoch's CPU time (``time.process_time``): on one thread and a
machine shared with other work it is the steadier figure. Printed per
dtype: both epoch times and their ratio, the test accuracy each reached, Conv2D's forward +
backward GFLOP/s (the three matrix products of each conv layer, timed on one batch) beside this
machine's matrix-product GFLOP/s (a large ``np.matmul`` in the same dtype), and the memory::

    python bench/lenet_epoch.py                      # float32 and float64
    python bench/lenet_epoch.py --dtype float32 --threads 1 --repeats 5
    python bench/lenet_epoch.py --dtype float32 --json
    python bench/lenet_epoch.py --skip-first-input-gradient   # corenn skips conv1's unused dL/dX

Data come from ``--data-dir`` or ``CORENN_DATA_DIR`` (torchvision's layout, see corenn.data).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

DTYPES = ("float32", "float64")
MATMUL_SIZE = 2048


def reset_peak_rss():
    """Start a new peak-memory measurement: Linux resets VmHWM when "5" is written to
    /proc/self/clear_refs. Returns whether it could (elsewhere the peak is the process's)."""
    try:
        with open("/proc/self/clear_refs", "w") as stream:
            stream.write("5")
        return True
    except OSError:
        return False


def peak_rss_mib():
    """Peak resident memory since :func:`reset_peak_rss` (VmHWM), else since the process
    started (ru_maxrss, KiB on Linux), in MiB."""
    try:
        with open("/proc/self/status") as stream:
            for line in stream:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib():
    """Resident memory now, in MiB (Linux), else None."""
    try:
        with open("/proc/self/status") as stream:
            for line in stream:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def lenet_config(dtype, batch_size):
    from corenn.run.config import load_preset, with_overrides

    return with_overrides(load_preset("lenet-mnist"), dtype=dtype, batch_size=batch_size, epochs=1)


def epoch_order(n_samples, seed):
    """The shuffled sample order of the epoch, shared by both backends."""
    import numpy as np

    return np.random.default_rng([seed, 0x5EED]).permutation(n_samples)


# --- corenn ----------------------------------------------------------------------------------


def run_corenn(dtype, batch_size, data_dir, skip_first_input_gradient):
    import numpy as np

    from corenn.run.build import build
    from corenn.run.loop import Trainer, TrainingRun

    config = lenet_config(dtype, batch_size)
    data, model, loss, optimizer, scheduler = build(config, data_dir=data_dir)
    if skip_first_input_gradient:
        model.layers[0].needs_input_gradient = False
    run = TrainingRun(config=config, model=model, run_dir=None, epochs=1)

    class SameOrder:  # the trainer draws its epoch order from this: make it the shared one
        def permutation(self, n):
            return epoch_order(n, config.seed)

    trainer = Trainer(run, data, loss, optimizer, scheduler, batch_size=batch_size, shuffle_rng=SameOrder())
    rss_before = current_rss_mib()
    reset_peak_rss()
    started, cpu_started = time.perf_counter(), time.process_time()
    metrics = trainer.train_epoch(1)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = peak_rss_mib()
    test = trainer.evaluate(data.test, "test")
    conv = conv_flops(model, data.train.X[:batch_size])
    traced = traced_peak_mib(trainer, batches=50)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "train_accuracy": metrics["train_accuracy"],
        "test_accuracy": test["test_accuracy"],
        "peak_rss_mib": peak,
        "rss_before_epoch_mib": rss_before,
        "numpy_peak_traced_mib": traced,
        "matmul_gflops": matmul_gflops(np.dtype(dtype)),
        **conv,
        "blas": blas_description(),
    }


def conv_flops(model, X, repeats=20):
    """Conv2D forward + backward GFLOP/s on one batch: each conv layer's three matrix products
    (Z = P W, dW = P^T dZ and, when computed, dP = dZ W^T) count 2*M*K*N flops each."""
    import numpy as np

    flops, seconds = 0.0, 0.0
    h = X
    for layer in model.layers:
        if type(layer).__name__ == "Conv2D":
            Y = layer.forward(h)
            G = np.ones_like(Y)
            layer.backward(G)
            started = time.perf_counter()
            for _ in range(repeats):
                layer.forward(h)
                layer.backward(G)
            seconds += (time.perf_counter() - started) / repeats
            geometry = layer.cache["geometry"]  # P is (m * H_out * W_out) x (kh * kw * C)
            (out_rows, out_cols), (kh, kw) = geometry.output_size, geometry.kernel
            n_rows, n_cols = geometry.input_shape[0] * out_rows * out_cols, kh * kw * geometry.input_shape[3]
            products = 3 if getattr(layer, "needs_input_gradient", True) else 2
            flops += products * 2.0 * n_rows * n_cols * layer.n_out
            h = Y
        else:
            h = layer.forward(h)
    return {"conv_gflops": flops / seconds / 1e9, "conv_ms_per_batch": seconds * 1e3}


def matmul_gflops(dtype, size=MATMUL_SIZE, repeats=5):
    """This machine's matrix-product speed in ``dtype``: the best of a few ``size``-cubed np.matmul."""
    import numpy as np

    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((size, size)).astype(dtype), rng.standard_normal((size, size)).astype(dtype)
    A @ B
    best = min(_timed(lambda: A @ B) for _ in range(repeats))
    return 2.0 * size**3 / best / 1e9


def _timed(function):
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def traced_peak_mib(trainer, batches):
    """Peak numpy memory (tracemalloc) of ``batches`` training steps beyond what was allocated
    before them: the working set of a step, the same at every step of the epoch."""
    import tracemalloc

    from corenn.run.loop import EpochProgress

    n = min(len(trainer.data.train), batches * trainer.batch_size)
    trainer.epoch_progress = EpochProgress(epoch_order(len(trainer.data.train), 0)[:n])
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    trainer.train_epoch(2)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return (peak - baseline) / 2**20


def blas_description():
    import numpy as np

    try:
        config = np.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # older numpy: no dict mode
        return "unknown"


# --- torch -----------------------------------------------------------------------------------


def run_torch(dtype, batch_size, data_dir):
    import numpy as np
    import torch

    from corenn.data.loader import prepare
    from corenn.plugins import create

    if os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    config = lenet_config(dtype, batch_size)
    splits = create("dataset", config.dataset.name, data_dir=data_dir)
    data = prepare(splits, dtype)
    torch_dtype = getattr(torch, dtype)

    def to_nchw(X):
        return torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))

    X_train, y_train = to_nchw(data.train.X), torch.from_numpy(data.train.labels)
    X_test, y_test = to_nchw(data.test.X), torch.from_numpy(data.test.labels)

    torch.manual_seed(config.seed)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    ).to(torch_dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.optimizer.options.get("lr", 1e-3))
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=learning_rate_factor(config.scheduler))
    order = torch.from_numpy(epoch_order(len(y_train), config.seed))

    rss_before = current_rss_mib()
    reset_peak_rss()
    started, cpu_started = time.perf_counter(), time.process_time()
    correct = 0
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        X, y = X_train[index], y_train[index]
        optimizer.zero_grad()
        logits = model(X)
        loss = nn.functional.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        schedule.step()
        correct += int((logits.argmax(1) == y).sum())
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = peak_rss_mib()
    with torch.no_grad():
        test_correct = sum(
            int((model(X_test[s : s + 1024]).argmax(1) == y_test[s : s + 1024]).sum())
            for s in range(0, len(y_test), 1024)
        )
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "train_accuracy": correct / len(order),
        "test_accuracy": test_correct / len(y_test),
        "peak_rss_mib": peak,
        "rss_before_epoch_mib": rss_before,
        "threads": torch.get_num_threads(),
        "version": torch.__version__,
    }


def learning_rate_factor(scheduler):
    """The preset's schedule as a factor of the initial rate at each step, for torch's LambdaLR
    (corenn's ``exponential``: ``decay ** (step / stage_length)``, floored with ``staircase``)."""
    if scheduler.name == "constant":
        return lambda step: 1.0
    if scheduler.name == "exponential":
        decay = scheduler.options.get("decay", 0.1)
        stage_length = scheduler.options.get("stage_length", 500)
        staircase = scheduler.options.get("staircase", False)
        return lambda step: decay ** (step // stage_length if staircase else step / stage_length)
    raise SystemExit(f"the bench knows the constant and exponential schedules, not {scheduler.name!r}")


# --- driver ----------------------------------------------------------------------------------


def run_worker(backend, dtype, args):
    command = [sys.executable, __file__, "--worker", backend, "--dtype", dtype, "--batch-size", str(args.batch_size)]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    if args.skip_first_input_gradient:
        command.append("--skip-first-input-gradient")
    env = dict(os.environ)
    if args.threads:
        # read by OpenBLAS / MKL / OpenMP when they start, so the worker must be a new process
        for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[variable] = str(args.threads)
    completed = subprocess.run(command, capture_output=True, text=True, env=env)
    if completed.returncode != 0:
        raise SystemExit(f"the {backend} {dtype} run failed:\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def report(dtype, batch_size, threads, corenn_result, torch_result):
    ratio = corenn_result["seconds"] / torch_result["seconds"]
    lines = [
        f"LeNet, one MNIST epoch (55,000 images), {dtype}, batch {batch_size}, "
        f"threads: {threads or 'default (all cores)'}",
        f"  corenn numpy : {corenn_result['seconds']:7.2f} s   test accuracy {corenn_result['test_accuracy']:.4f}"
        f"   (fastest of {_listed(corenn_result)})",
        f"  torch CPU    : {torch_result['seconds']:7.2f} s   test accuracy {torch_result['test_accuracy']:.4f}"
        f"   (fastest of {_listed(torch_result)}; {torch_result['threads']} threads, torch {torch_result['version']})",
        f"  ratio corenn / torch : {ratio:.2f}  (target <= 1.0); in CPU seconds "
        f"({corenn_result['cpu_seconds']:.2f} / {torch_result['cpu_seconds']:.2f}, steadier on a shared machine): "
        f"{corenn_result['cpu_seconds'] / torch_result['cpu_seconds']:.2f}",
        f"  Conv2D forward+backward : {corenn_result['conv_gflops']:.1f} GFLOP/s  "
        f"({corenn_result['conv_ms_per_batch']:.2f} ms per batch for both conv layers); "
        f"np.matmul {MATMUL_SIZE}^3: {corenn_result['matmul_gflops']:.1f} GFLOP/s  [{corenn_result['blas']}]",
        f"  peak memory during the epoch, corenn : {corenn_result['peak_rss_mib']:.0f} MiB RSS "
        f"({_above(corenn_result)} MiB above the data and "
        f"model held before it; numpy working set of one step {corenn_result['numpy_peak_traced_mib']:.1f} MiB "
        f"by tracemalloc)",
        f"  peak memory during the epoch, torch  : {torch_result['peak_rss_mib']:.0f} MiB RSS "
        f"({_above(torch_result)} MiB above what it held before)",
    ]
    return "\n".join(lines), ratio


def fastest(results):
    """The result of the fastest epoch, with every epoch's seconds under ``"all_seconds"``."""
    best = dict(min(results, key=lambda result: result["seconds"]))
    best["all_seconds"] = [result["seconds"] for result in results]
    return best


def _listed(result):
    return ", ".join(f"{seconds:.2f}" for seconds in result.get("all_seconds", [result["seconds"]]))


def _above(result):
    before = result["rss_before_epoch_mib"]
    return "?" if before is None else f"{result['peak_rss_mib'] - before:.0f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dtype", choices=(*DTYPES, "both"), default="both")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the preset's")
    parser.add_argument(
        "--data-dir", default=None, help="data root (default: $CORENN_DATA_DIR, then ~/.cache/corenn/data)"
    )
    parser.add_argument(
        "--skip-first-input-gradient",
        action="store_true",
        help="let corenn's first conv layer skip its unused dL/dX (as torch's autograd does)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for numpy's BLAS and for torch (default: their own defaults, all cores)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="epochs per backend, taking turns; the fastest of each is compared (default 3)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--worker", choices=("corenn", "torch"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.batch_size is None:
        args.batch_size = _preset_batch_size()

    if args.worker:
        dtype = "float32" if args.dtype == "both" else args.dtype
        if args.worker == "corenn":
            result = run_corenn(dtype, args.batch_size, args.data_dir, args.skip_first_input_gradient)
        else:
            result = run_torch(dtype, args.batch_size, args.data_dir)
        print(json.dumps(result))
        return 0

    dtypes = DTYPES if args.dtype == "both" else (args.dtype,)
    results = {}
    for dtype in dtypes:
        runs = {"corenn": [], "torch": []}
        for _ in range(max(1, args.repeats)):
            for backend, results_of_backend in runs.items():
                results_of_backend.append(run_worker(backend, dtype, args))
        corenn_result, torch_result = (fastest(runs[backend]) for backend in ("corenn", "torch"))
        text, ratio = report(dtype, args.batch_size, args.threads, corenn_result, torch_result)
        results[dtype] = {"corenn": corenn_result, "torch": torch_result, "ratio": ratio}
        if not args.json:
            print(text, flush=True)
    if args.json:
        print(json.dumps({"batch_size": args.batch_size, "results": results}, indent=2))
    return 0


def _preset_batch_size():
    from corenn.run.config import load_preset

    return load_preset("lenet-mnist").dataset.batch_size


if __name__ == "__main__":
    sys.exit(main())
