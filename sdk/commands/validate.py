"""`edgesdk validate`: run N cases on the device and on the reference interpreter, compare."""
import click


@click.command("validate", epilog="""\b
Example:
  edgesdk validate build/ --cases 20 --junit validate.xml
  edgesdk validate build/ --data test_x.npy --board nucleo-f746zg
Exit code: 0 all cases match, 1 some differ, 2 the device or the input failed.
""")
@click.argument("build", type=click.Path(file_okay=False))
@click.option("--cases", type=int, default=10, show_default=True, help="number of cases")
@click.option("--data", type=click.Path(dir_okay=False),
              help=".npy/.npz of inputs (first axis: cases); default random within each input's range")
@click.option("--board", help="board name or BOARD.yaml (default: the build's board)")
@click.option("--port", help="serial port of a real board (default: the board yaml's)")
@click.option("--seed", type=int, default=0, show_default=True, help="seed of the random cases")
@click.option("--junit", type=click.Path(dir_okay=False), help="write a JUnit XML report here")
def command(build, cases, data, board, port, seed, junit):
    """Check that BUILD on the device computes what model.edg computes on the host."""
    import sys

    from ..hil.validate import summary_table, validate, write_junit

    report = validate(build, cases=cases, board=board, data=data, seed=seed, port=port)
    click.echo(summary_table(report))
    if junit:
        write_junit(report, junit)
        click.echo(f"wrote {junit}")
    if any(c.error for c in report.cases):
        click.echo(f"edgesdk: error: {next(c.error for c in report.cases if c.error)}", err=True)
        sys.exit(2)
    sys.exit(0 if report.passed else 1)
