"""`edgesdk flash`: put a build's firmware on a real board (openocd or pyocd)."""
import click


@click.command("flash", epilog="""\b
Example:
  edgesdk flash build/ --board nucleo-f746zg
  edgesdk flash build/ --tool pyocd
""")
@click.argument("build", type=click.Path(file_okay=False))
@click.option("--board", help="board name or BOARD.yaml (default: the build's board)")
@click.option("--tool", type=click.Choice(["openocd", "pyocd"]), help="flash tool (default: the board's runner)")
def command(build, board, tool):
    """Flash BUILD's image to its board. Emulated boards need no flashing."""
    from ..hil.flash import flash
    click.echo(flash(build, board=board, tool=tool))
