"""Golden outputs: run a tiny fixed-seed pipeline and print the sha256 of every output file.

    OMP_NUM_THREADS=1 python tools/golden_outputs.py [--keep DIR] [--compare FILE]

The pipeline is ``simulate --scale tiny`` -> ``prepare`` -> a four-step ``train`` -> ``predict``
-> ``call-elements`` (model mode with the null and summits, and model-free mode on the
written bedGraph). JSON run records and checkpoints are hashed after their volatile keys (timestamps,
durations, input checksums) are dropped and the temporary root is replaced by ``ROOT``; gzip
files by their content, .cool files by their contacts (both formats stamp the time in);
``metrics.tsv`` without its elapsed column; any other file byte for byte. Two runs of the same
code print the same lines. A refactor that keeps
behaviour keeps every line; ``--compare FILE`` (an earlier run's output) lists the lines that
differ and exits 1 when any does.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

# Keys (in JSON records and checkpoints) and TSV columns whose values depend on when, where or
# how fast a run happened; input checksums (.cool files differ in their HDF5 time stamps) go too (the inputs are hashed themselves).
VOLATILE_KEYS = {
    "seconds", "elapsed_s", "timings", "started", "finished", "created", "mtime", "md5", "set_id",
    "seq2exp_version", "host", "hostname", "pid",
}
TRAIN_ARGS = ["--d-model", "8", "--n-layers", "1", "--resolution", "100", "--device", "cpu",
              "--batch-size", "2", "--max-steps", "4", "--eval-every", "2", "--checkpoint-every", "2",
              "--seed", "3", "--threads", "1"]


def _invoke(args: list[str]) -> None:
    from click.testing import CliRunner

    from seq2exp_cli.cli import cli

    args = [str(a) for a in args]
    sys.argv = ["seq2exp", *args]  # what a shell run records as its command line
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"seq2exp {' '.join(map(str, args))} failed ({result.exit_code}): {result.output}")


def _in_directory(directory: Path, arg: str) -> str:
    """``arg`` with a file name (or the file of ``NAME=FILE``) under ``directory`` made absolute."""
    name, _, file = arg.rpartition("=")
    if arg.startswith("-") or not (directory / file).is_file():
        return arg
    return f"{name}={directory / file}" if name else str(directory / file)


def run_pipeline(root: Path) -> dict[str, Path]:
    """Write every stage's outputs under ``root``; returns stage name -> its directory."""
    sim, data, run, pred, calls = (root / name for name in ("sim", "data", "run", "pred", "calls"))
    _invoke(["-q", "simulate", "--scale", "tiny", "--seed", "1", "-o", sim, "--threads", "1"])
    meta = json.loads((sim / "simulation.json").read_text())
    prepare = shlex.split(meta["prepare_command"])[2:]  # drop "seq2exp prepare"
    prepare = [_in_directory(sim, a) for a in prepare]
    prepare = prepare[: prepare.index("-o")]
    _invoke(["-q", "prepare", *prepare, "-o", data, "--threads", "1"])
    _invoke(["-q", "train", data, "-o", run, *TRAIN_ARGS])
    pred.mkdir()
    _invoke(["-q", "predict", run, data, "-o", pred / "predictions.tsv", "--device", "cpu", "--threads", "1",
             "--split", "all"])
    calls.mkdir()
    _invoke(["-q", "call-elements", run, data, "-o", calls / "model.narrowPeak", "--device", "cpu",
             "--threads", "1", "--null-shuffles", "2", "--call-summits", "--cutoff-analysis",
             "--bedgraph", calls / "model.bdg"])
    _invoke(["-q", "call-elements", "--from-bedgraph", calls / "model.bdg", "--dataset", data,
             "-o", calls / "free.narrowPeak", "--cutoff", "0.005", "--call-summits", "--threads", "1"])
    return {"simulate": sim, "prepare": data, "train": run, "predict": pred, "call-elements": calls}


def _canonical(value: object) -> object:
    """A JSON-able, order-stable form of a record or checkpoint without its volatile keys."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a tensor
        array = value.detach().cpu().contiguous()
        return [str(array.dtype), list(array.shape), hashlib.sha256(array.view(-1).view(dtype=__import__(
            "torch").uint8).numpy().tobytes() if array.numel() else b"").hexdigest()]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def _cool_bytes(path: Path) -> bytes:
    """The bins, contacts and attributes of a .cool file, without the creation date it stamps in."""
    import hictkpy

    handle = hictkpy.File(str(path))
    attrs = {k: v for k, v in handle.attributes().items() if k != "creation-date"}
    header = json.dumps([handle.chromosomes(), attrs], sort_keys=True, default=repr).encode()
    return header + handle.fetch().to_numpy().tobytes()


def file_bytes(path: Path, root: Path) -> bytes:
    """The bytes of ``path`` that a behaviour-preserving change must keep."""
    data = path.read_bytes()
    if path.suffix == ".json":
        text = data.decode().replace(str(root), "ROOT")
        return json.dumps(_canonical(json.loads(text)), sort_keys=True).encode()
    if path.suffix == ".pt":
        import torch

        record = torch.load(path, map_location="cpu", weights_only=False)
        text = json.dumps(_canonical(record), sort_keys=True).replace(str(root), "ROOT")
        return text.encode()
    if path.suffix == ".gz":  # the gzip header holds a time stamp
        return gzip.decompress(data)
    if path.suffix in (".cool", ".mcool"):
        return _cool_bytes(path)
    if path.name == "metrics.tsv":
        rows = [line.split("\t") for line in data.decode().splitlines()]
        keep = [i for i, name in enumerate(rows[0]) if name not in VOLATILE_KEYS]
        return "\n".join("\t".join(row[i] for i in keep) for row in rows).encode()
    return data


def digest_lines(stages: dict[str, Path], root: Path) -> list[str]:
    lines = []
    for stage, directory in stages.items():
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            digest = hashlib.sha256(file_bytes(path, root)).hexdigest()
            lines.append(f"{digest}  {stage}/{path.relative_to(directory).as_posix()}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the outputs here (default: a temporary directory)")
    parser.add_argument("--compare", type=Path, help="an earlier run's printed lines to compare with")
    args = parser.parse_args()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        lines = digest_lines(run_pipeline(args.keep), args.keep)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            lines = digest_lines(run_pipeline(Path(tmp)), Path(tmp))
    print("\n".join(lines))
    if args.compare is None:
        return 0
    before = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in args.compare.read_text().splitlines()
              if "  " in line}
    now = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}
    differ = sorted(name for name in before.keys() | now.keys() if before.get(name) != now.get(name))
    for name in differ:
        print(f"DIFFERS {name}: {before.get(name, '-')[:12]} -> {now.get(name, '-')[:12]}", file=sys.stderr)
    print(f"{len(now) - len(differ)} of {len(before.keys() | now.keys())} files equal", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
