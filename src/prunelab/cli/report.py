"""`prunelab report RUNS_OR_SWEEP --output DIR`: report.md and PNG figures from runs on disk."""


def register_report(parser):
    parser.add_argument("inputs", nargs="+", metavar="RUNS_OR_SWEEP",
                        help="a sweep's output folder, a runs folder, or run directories")
    parser.add_argument("--output", required=True, help="folder for report.md and the figures")
    parser.set_defaults(handler=report)


def report(args) -> int:
    from prunelab.reporting.document import write_report

    result = write_report(args.inputs, args.output)
    print(f"wrote {result['report']} from {result['runs']} runs: {len(result['figures'])} figures, "
          f"{len(result['skipped'])} left out")
    for skipped in result["skipped"]:
        print(f"  left out: {skipped.title}: {skipped.reason}")
    return 0
