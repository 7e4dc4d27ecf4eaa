"""kill -9 at random moments of prepare, train and call-elements; check what is left.

For each command: one uninterrupted reference run (its wall time sets the kill window), then
``--kills`` runs killed with SIGKILL at a uniformly random moment of that window. After each
kill the output path must hold either nothing or the complete set (prepare: a dataset that
opens; train: files that load; call-elements: a run.json with status complete whose checksums
match every file). Then the command is re-run as a user would (train: ``--resume`` when there
is a last.pt; the others: the same command, ``--force`` only when a complete set is already
there) and must succeed, leave no temporary beside the output, and give the reference's bytes.

    python benchmarks/kill_test.py [--kills 5] [--seed 1] [--out benchmarks/results/kill_test.md]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

TRAIN_ARGS = ["--d-model", "8", "--n-layers", "1", "--resolution", "100", "--device", "cpu", "--batch-size", "2",
              "--max-steps", "12", "--eval-every", "4", "--checkpoint-every", "1", "--seed", "3"]


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(REPO))


def _run(args: list, kill_after: float | None = None) -> tuple[int, float]:
    command = [sys.executable, "-m", "seq2exp_cli", "-q", *map(str, args)]
    start = time.time()
    proc = subprocess.Popen(command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode, time.time() - start


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".seq2exp-" in p.name or p.name.endswith((".tmp", ".partial")))


def _check_prepare(out: Path) -> str:
    from seq2exp_cli.dataset import PreparedDataset

    if not out.exists():
        return "nothing"
    PreparedDataset(out)
    return "complete"


def _check_train(out: Path) -> str:
    import torch

    if not out.exists():
        return "nothing"
    if not any(out.iterdir()):
        return "an empty directory"  # killed between mkdir and the first file; a plain rerun uses it
    for name in ("model.pt", "last.pt"):
        if (out / name).exists():
            torch.load(out / name, weights_only=True)  # whole, never truncated
    return "run files " + ",".join(sorted(p.name for p in out.iterdir() if not p.name.startswith(".")))


def _check_call(out: Path) -> str:
    from seq2exp_cli.io.output_set import file_digest

    names = [p.name for p in out.parent.iterdir() if p.name.startswith("el.")]
    if not names:
        return "nothing"
    record = json.loads((out.parent / "el.run.json").read_text())
    assert record["status"] == "complete", record
    for entry in record["files"].values():
        assert file_digest(entry["path"]) == {"bytes": entry["bytes"], "sha256": entry["sha256"]}, entry
    assert sorted(names) == sorted([Path(e["path"]).name for e in record["files"].values()] + ["el.run.json"])
    return "complete"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "kill_test.md")
    args = parser.parse_args()
    from synthetic_inputs import write_synthetic_inputs

    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="seq2exp_kill_"))
    inputs = write_synthetic_inputs(root / "inputs", seed=1)
    prepare = ["prepare", "--fasta", inputs["fasta"], "--genes", inputs["gtf"], "--expression", inputs["expression"],
               "--track", f"dnase={inputs['dnase']}", "--track", f"h3k27ac={inputs['h3k27ac']}", "--hic",
               inputs["cool"], "--window", "10000", "--split-mode", "blocks", "--block-size", "40000",
               "--valid-fraction", "0.25", "--test-fraction", "0.25"]
    ref = root / "ref"
    ref.mkdir()
    commands = {
        "prepare": (lambda o: [*prepare, "-o", o / "ds"], lambda o: o / "ds", _check_prepare,
                    ("ds/arrays/seq.u8", "ds/arrays/tracks.f16", "ds/arrays/hic.f32", "ds/genes.tsv")),
        "train": (lambda o: ["train", ref / "ds", "-o", o / "run", *TRAIN_ARGS], lambda o: o / "run", _check_train,
                  ("run/model.pt",)),
        "call-elements": (lambda o: ["call-elements", ref / "run", ref / "ds", "-o", o / "el.bed", "--device", "cpu",
                                     "--bigwig", o / "el.bw", "--cutoff-analysis"], lambda o: o / "el.bed",
                          _check_call, ("el.bed", "el.summits.bed", "el.links.tsv", "el.bw")),
    }
    rows, failures = [], 0
    for name, (build, target, check, compare) in commands.items():
        code, seconds = _run(build(ref))
        assert code == 0, f"reference {name} failed"
        kills = attempts = 0
        while kills < args.kills and attempts < 3 * args.kills:
            attempts += 1
            work = root / f"{name}{attempts}"
            work.mkdir()
            moment = rng.uniform(0.05, 0.9) * seconds
            code, _ = _run(build(work), kill_after=moment)
            kills += code == -9
            try:
                state = check(target(work))
                left = _leftovers(work)
                again = build(work)
                if name == "train" and (target(work) / "last.pt").exists():
                    again += ["--resume"]
                elif state not in ("nothing", "an empty directory"):
                    again += ["--force"]
                rerun, _ = _run(again)
                assert rerun == 0, f"rerun exited {rerun}"
                assert _leftovers(work) == [], _leftovers(work)
                check(target(work))
                same = all((target(work).parent / f).read_bytes() == (target(ref).parent / f).read_bytes()
                           for f in compare)
                verdict = "ok" if same else "rerun differs from the reference"
            except Exception as exc:  # noqa: BLE001 -- every failure is reported in the table
                state, left, verdict = "broken", [], f"FAIL: {type(exc).__name__}: {exc}"[:200]
            failures += not verdict.startswith("ok")
            rows.append((name, f"{moment:.2f} of {seconds:.2f}", "killed" if code == -9 else f"exited {code}",
                         state, len(left), verdict))
            print(rows[-1], flush=True)
    lines = ["# kill -9 test", "", f"`python benchmarks/kill_test.py --kills {args.kills} --seed {args.seed}` "
             f"(2-core CPU; {time.strftime('%Y-%m-%d')}). Each run is killed at a random moment of the "
             "reference run's wall time (Python start-up included); then the output path is checked and the "
             "command re-run (train with `--resume` when last.pt exists; `--force` only over a complete set).",
             "", "| command | kill at (s) | process | state at the output path | temporaries beside it | rerun |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} | {e} | {f} |" for a, b, c, d, e, f in rows]
    lines += ["", f"{len(rows) - failures} of {len(rows)} runs: the complete set or nothing, and a clean rerun "
              "with the reference's bytes.", ""]
    args.out.write_text("\n".join(lines))
    shutil.rmtree(root, ignore_errors=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
