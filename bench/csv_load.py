"""Loading a large CSV file with the ``csv`` data set's reader: issue 13's target is
1,000,000 rows x 30 numeric columns (plus a text label) read into arrays in at most 3 s.

Writes the file once (random numbers with 6 decimals, about 290 MB; kept under ``--dir`` for
the next run), then times, ``--repeats`` times each: :func:`corenn.data.csv_table.read_table`
(the file into a float64 feature array and the labels: what the target is about) and the whole
:func:`corenn.data.csv_table.load_csv` (also the class names, label indices and the fixed
stratified split). Printed: the best and median of each, and whether the target is met::

    python bench/csv_load.py
    python bench/csv_load.py --rows 200000 --repeats 5 --json

The best time is the figure to compare with the target (a busy machine only slows a run).
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 3.0


def write_file(path, rows, columns, seed=0):
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, columns)).round(6)
    labels = np.array(["alpha", "beta", "gamma"])[rng.integers(0, 3, rows)]
    table = pa.table({**{f"f{i}": X[:, i] for i in range(columns)}, "label": labels})
    pacsv.write_csv(table, path)


def timed(function, repeats):
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return seconds, result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "corenn-bench"), help="where the file goes")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from corenn.data.csv_table import load_csv, read_table

    path = Path(args.dir) / f"rows{args.rows}_cols{args.columns}.csv"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        write_file(path, args.rows, args.columns)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s", flush=True)
    read_seconds, table = timed(lambda: read_table(path, label="label"), args.repeats)
    load_seconds, splits = timed(lambda: load_csv(path=str(path), label="label"), args.repeats)
    assert table.X.shape == (args.rows, args.columns)
    figures = {
        "file": str(path),
        "megabytes": round(path.stat().st_size / 1e6, 1),
        "rows": args.rows,
        "columns": args.columns,
        "read_table_best_s": round(min(read_seconds), 3),
        "read_table_median_s": round(statistics.median(read_seconds), 3),
        "load_csv_best_s": round(min(load_seconds), 3),
        "load_csv_median_s": round(statistics.median(load_seconds), 3),
        "train_val_test": [len(splits.train), len(splits.val), len(splits.test)],
        "target_s": TARGET_SECONDS,
        "target_met": min(read_seconds) <= TARGET_SECONDS,
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"{args.rows:,} rows x {args.columns} columns ({figures['megabytes']} MB):\n"
        f"  read into arrays   best {figures['read_table_best_s']:.2f} s  median {figures['read_table_median_s']:.2f} s\n"
        f"  load_csv (+split)  best {figures['load_csv_best_s']:.2f} s  median {figures['load_csv_median_s']:.2f} s\n"
        f"  target <= {TARGET_SECONDS:.0f} s: {'met' if figures['target_met'] else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
