"""`python -m training`: train-reader, check-reader, near-miss, calibrate, probes. Development commands that need
../shared (SQuAD) or the probe corpus; they live outside the installed product, which only loads and runs
the models they write. Project errors are translated here, once (exit code 2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.errors import RagError

SQUAD_HELP = "SQuAD v1.1 dev json(.gz) (default: ../shared/data/squaddev_v1.1.json.gz)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training", description="Train, calibrate and probe the assistant.")
    sub = p.add_subparsers(dest="cmd", required=True)
    cal = sub.add_parser("calibrate", help="choose the abstention and support thresholds (needs ../shared)")
    cal.add_argument("--squad", help=SQUAD_HELP)
    cal.add_argument("--out", help="where to write calibration.json (default: data/calibration.json)")
    cal.add_argument("--articles", type=int, default=5, help="SQuAD articles to ingest")
    cal.add_argument("--questions", type=int, default=120, help="questions per class")
    cal.add_argument("--data-dir", help="scratch data dir for the calibration index (default: a temp dir)")
    tr = sub.add_parser("train-reader", help="train the reader model into data/reader/ (needs ../shared)")
    tr.add_argument("--squad", help=SQUAD_HELP)
    tr.add_argument("--out", help="output directory (default: data/reader)")
    tr.add_argument("--cache", help="embedding cache file (default: .cache/reader-emb.npz)")
    tr.add_argument("--ce", choices=("train", "reuse", "skip", "only"), default="train",
                    help="the cascade's cross-encoder: train it (~30-40 min on 2 cores), reuse .cache/ce/ce.pt and ce_hard.pt, "
                         "skip it, or only rebuild it over the trees already in --out")
    ck = sub.add_parser("check-reader", help="measure the shipped reader on the SQuAD test articles (needs ../shared)")
    ck.add_argument("--squad", help=SQUAD_HELP)
    ck.add_argument("--cache", help="embedding cache file (default: .cache/reader-emb.npz)")
    ck.add_argument("--out", help="also write the figures as JSON here")
    ck.add_argument("--fail-under", nargs="+", default=[], metavar="NAME=VALUE",
                    help="exit 1 when a figure is below VALUE (above it for *false_abstention)")
    nm = sub.add_parser("near-miss", help="near-miss abstention by kind, with and without the question guard (needs ../shared)")
    nm.add_argument("--squad", help=SQUAD_HELP)
    nm.add_argument("--cache", help="embedding cache file (default: .cache/reader-emb.npz)")
    nm.add_argument("--out", help="write the figures (JSON) and the per-case rows (.jsonl beside it) here")
    nm.add_argument("--every", type=int, default=4, help="use every n-th question (CPU time)")
    nm.add_argument("--split", choices=("train", "val", "test"), default="test", help="which articles")
    sub.add_parser("probes", help="prompt-injection probes (see `python -m training probes --help`)", add_help=False)
    return p


def _log(message: str) -> None:
    print(message, file=sys.stderr)


def _calibrate(args: argparse.Namespace) -> int:
    from training.calibration import run_calibration

    run_calibration(squad=args.squad, out=args.out, n_articles=args.articles, n_questions=args.questions,
                    data_dir=args.data_dir, log=_log)
    return 0


def _train_reader(args: argparse.Namespace) -> int:
    from training.train_reader import run

    run(squad=args.squad, out=args.out, cache=args.cache, log=_log, ce=args.ce)
    return 0


def _check_reader(args: argparse.Namespace) -> int:
    from core.settings import PROJECT_ROOT
    from rag.reader.model import READER_DIR
    from training.reader_check import parse_floors, run
    from training.squad import SQUAD

    floors = parse_floors(args.fail_under)
    return run(Path(args.squad) if args.squad else SQUAD, READER_DIR,
               Path(args.cache) if args.cache else PROJECT_ROOT / ".cache" / "reader-emb.npz",
               Path(args.out) if args.out else None, floors, log=_log)


def _near_miss(args: argparse.Namespace) -> int:
    from core.settings import PROJECT_ROOT
    from training.near_miss_eval import run
    from training.squad import SQUAD

    run(Path(args.squad) if args.squad else SQUAD,
        Path(args.cache) if args.cache else PROJECT_ROOT / ".cache" / "reader-emb.npz",
        Path(args.out) if args.out else None, every=args.every, split=args.split, log=_log)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "probes":  # its own parser and error handling
        from training.probes import main as probes_main

        return probes_main(argv[1:])
    args = _parser().parse_args(argv)
    try:
        return {"calibrate": _calibrate, "train-reader": _train_reader, "check-reader": _check_reader,
                "near-miss": _near_miss}[args.cmd](args)
    except RagError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
