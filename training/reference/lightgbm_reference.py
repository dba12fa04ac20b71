"""LightGBM trained the way tickcast's own `median-trees` are (training/models/trees.ts), as a
reference to measure them against: run by training/reference/lightgbm.ts, which writes the
input and reads the output; the venv comes from scripts/lightgbm-venv.

    python lightgbm_reference.py DIR

DIR holds (written by lightgbm.ts):
  input.json       {"features": F, "rows": {"train": n, "validation": m, "test": k},
                    "folds": [{"fit": [i, ...], "validate": [i, ...]}, ...]  (indices into train),
                    "objective": "l1" | "l2", "depths": [2, 3, 4], "maxRounds": 300,
                    "learningRate": 0.05, "minLeaf": 200, "l2": 10, "maxBins": 64,
                    "patience": 50, "threads": 2}
  train_x.f64, validation_x.f64, test_x.f64   row-major float64, little-endian, rows × F
  train_y.f64                                 float64, the TRAIN log returns

and gets output.json: {"depth", "rounds", "cvMae", "scores": [{depth, rounds, cvMae}],
"validation": [...], "test": [...]} with the refitted model's predicted log returns.

Hyperparameters are chosen as tuneTrees does: for each depth, lgb.cv over the same folds
(early stopping on the mean fold curve after `patience` rounds without improvement), the
(depth, rounds) with the lowest mean fold MAE wins; then one refit on all TRAIN rows.

Malformed input (a missing key, a file whose size does not match the row counts, an index
out of range) exits with status 2 and one line on stderr saying what is wrong.
"""

import json
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np


SETTINGS = ("objective", "depths", "maxRounds", "learningRate", "minLeaf", "l2", "maxBins", "patience", "threads")


class InputError(Exception):
    pass


def read_matrix(path: Path, rows: int, cols: int) -> np.ndarray:
    if not path.is_file():
        raise InputError(f"{path.name} is missing")
    expected = rows * cols * 8
    actual = path.stat().st_size
    if actual != expected:
        raise InputError(f"{path.name} has {actual} bytes, expected {rows} rows x {cols} x 8 = {expected}")
    return np.fromfile(path, dtype="<f8").reshape(rows, cols)


def read_input(directory: Path) -> tuple[dict, dict[str, np.ndarray]]:
    try:
        spec = json.loads((directory / "input.json").read_text())
        features = int(spec["features"])
        rows = {name: int(spec["rows"][name]) for name in ("train", "validation", "test")}
        folds = [(np.asarray(f["fit"], dtype=np.int64), np.asarray(f["validate"], dtype=np.int64)) for f in spec["folds"]]
        missing = [key for key in SETTINGS if key not in spec]
    except FileNotFoundError as error:
        raise InputError(f"input.json is missing in {directory}") from error
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise InputError(f"input.json is malformed: {type(error).__name__} {error}") from error
    if missing:
        raise InputError(f"input.json lacks {', '.join(missing)}")
    if spec["objective"] not in ("l1", "l2"):
        raise InputError(f"objective must be l1 or l2, got {spec['objective']!r}")
    if features < 1 or min(rows.values()) < 1 or not folds:
        raise InputError("need at least one feature, one row per split and one fold")
    for fit, validate in folds:
        for index in (fit, validate):
            if index.size == 0 or index.min() < 0 or index.max() >= rows["train"]:
                raise InputError(f"a fold index is out of range 0..{rows['train'] - 1} (or a fold is empty)")
    data = {f"{name}_x": read_matrix(directory / f"{name}_x.f64", n, features) for name, n in rows.items()}
    data["train_y"] = read_matrix(directory / "train_y.f64", rows["train"], 1).ravel()
    for name, values in data.items():
        if not np.all(np.isfinite(values)):
            raise InputError(f"{name} holds non-finite values")
    spec["folds"] = folds
    return spec, data


def params(spec: dict, depth: int) -> dict:
    """Our trees' settings in LightGBM's terms (trees.ts: bins, leaf size, L2, depth-limited trees)."""
    return {
        "objective": spec["objective"],
        "metric": "l1",
        "learning_rate": spec["learningRate"],
        "max_bin": spec["maxBins"],
        "min_data_in_leaf": spec["minLeaf"],
        "min_sum_hessian_in_leaf": 0.0,
        "lambda_l2": spec["l2"],
        "max_depth": depth,
        "num_leaves": 2**depth,
        "num_threads": spec["threads"],
        "deterministic": True,
        "force_row_wise": True,
        "seed": 1,
        "verbosity": -1,
    }


def main(directory: Path) -> None:
    spec, data = read_input(directory)
    train = lgb.Dataset(data["train_x"], label=data["train_y"], free_raw_data=False)
    scores = []
    for depth in spec["depths"]:
        curves = lgb.cv(
            params(spec, depth),
            train,
            num_boost_round=spec["maxRounds"],
            folds=spec["folds"],
            stratified=False,
            shuffle=False,
            callbacks=[lgb.early_stopping(spec["patience"], verbose=False)],
        )
        mean = curves["valid l1-mean"]
        best = int(np.argmin(mean))
        scores.append({"depth": depth, "rounds": best + 1, "cvMae": float(mean[best])})
    chosen = min(scores, key=lambda s: s["cvMae"])
    booster = lgb.train(params(spec, chosen["depth"]), train, num_boost_round=chosen["rounds"])
    output = {
        **chosen,
        "scores": scores,
        "validation": booster.predict(data["validation_x"]).tolist(),
        "test": booster.predict(data["test_x"]).tolist(),
    }
    (directory / "output.json").write_text(json.dumps(output))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: lightgbm_reference.py DIR")
    try:
        main(Path(sys.argv[1]))
    except InputError as error:
        print(f"lightgbm_reference: {error}", file=sys.stderr)
        sys.exit(2)
