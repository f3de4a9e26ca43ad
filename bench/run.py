"""Run the bench: `python -m bench.run [--only load,inprocess,...] [--handler ...] [--app ...]`.

Baselines (the Go reference BFF and the naive FastAPI build) are measured in the same run as the
contender, so ratios compare like with like. Results go to bench/results/.
"""

import argparse
import sys
import time
from pathlib import Path

from bench.cases import CASES
from bench.chart import write_chart
from bench.model import CaseOutcome, GoMissingError, Settings
from bench.procs import REPO_ROOT
from bench.report import environment, write_json, write_markdown, write_raw
from bench.services import build_go
from bench.summary import Figures, cost_model, markdown, targets, write_cost_chart

NO_GO = "skipped: no Go toolchain (`go` not on PATH), so none of the shared Go mock services can run"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    parser.add_argument("--handler", default="bff.handler:lambda_handler", help="contender Lambda handler")
    parser.add_argument("--app", default="bff.handler:app", help="contender ASGI app for uvicorn")
    parser.add_argument(
        "--sys-path",
        action="append",
        type=Path,
        help="contender import root, repeatable (default: functions/bff)",
    )
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results")
    parser.add_argument("--load-seconds", type=float, default=3.0, help="per load row, at most 30")
    parser.add_argument("--import-repeats", type=int, default=3, help="fresh interpreters per cold-import row")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose from {', '.join(CASES)}")
    return args


def run_case(name: str, settings: Settings) -> CaseOutcome:
    spec = CASES[name]
    outcome = CaseOutcome(name, spec.title, spec.key_metrics)
    started = time.perf_counter()
    try:
        spec.run(settings, outcome)
    except GoMissingError:
        outcome.skipped = NO_GO
    print(f"{name}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return outcome


def main(argv: list[str]) -> None:
    args = _parse(argv)
    sys_path = tuple((REPO_ROOT / path).resolve() for path in (args.sys_path or [Path("functions/bff")]))
    env = environment()
    settings = Settings(
        args.handler,
        args.app,
        sys_path,
        build_go(),
        load_seconds=args.load_seconds,
        import_repeats=args.import_repeats,
        results=args.results,
    )
    outcomes = [run_case(name, settings) for name in args.only.split(",")]
    args.results.mkdir(parents=True, exist_ok=True)
    write_raw(outcomes, args.results)
    chart = write_chart(outcomes, args.results)
    figures = Figures(outcomes)
    target_rows, model = targets(figures), cost_model(figures)
    cost_chart = write_cost_chart(model, args.results)
    summary = {
        "targets": [
            {"target": t.name, "figure": t.figure, "limit": t.limit, "verdict": t.verdict} for t in target_rows
        ],
        "cost": model.as_dict(),
    }
    write_json(outcomes, env, args.results, summary)
    print(write_markdown(outcomes, env, args.results, chart, markdown(target_rows, model, cost_chart)).read_text())


if __name__ == "__main__":
    main(sys.argv[1:])
