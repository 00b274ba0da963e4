"""`edgesdk report`: Markdown/HTML report with plots for a build folder."""
import click


@click.command("report")
@click.argument("build", type=click.Path(file_okay=False))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder for report.md, report.html and the PNGs (default BUILD/report).")
@click.option("--results", "results_dir", type=click.Path(file_okay=False), default="bench/results",
              show_default=True, help="Benchmark results to plot accuracy against size from.")
def command(build, out_dir, results_dir):
    """Write a report for BUILD: the build summary, instructions per layer, the memory map
    (arena over time, flash by layer) and accuracy against model size.

    \b
    Example:
      edgesdk build model_int8.edg --board mps2-an386 -o build/m4
      edgesdk report build/m4            # -> build/m4/report/report.html
    """
    from ..report import make_report
    out = make_report(build, out_dir, results_dir)
    for f in sorted(out.iterdir()):
        click.echo(f"  {f}")
    click.echo(f"report written to {out}/report.html")
