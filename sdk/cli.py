"""The `edgesdk` command line.

Each subcommand lives in its own module under edgesdk.commands and exposes a click
command named `command`; this file only assembles them and turns user errors
(EdgeError) into one clean line with exit code 2.
"""
import importlib
import pkgutil
import sys

import click

from . import __version__
from .errors import EdgeError


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except EdgeError as e:
            click.echo(f"edgesdk: error: {e}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgesdk")
def main():
    """edgesdk: take a trained PyTorch or ONNX model to edge hardware, and keep it learning there.

    \b
    Typical flow:
      edgesdk inspect model.onnx                        # what is in it: layers, MACs, memory
      edgesdk quantize model.onnx --calib calib.npy -o model_q.edg
      edgesdk build model_q.edg --target mcu --board mps2-an386 -o build/
      edgesdk validate build/ --cases 20                # run on the board/emulator vs the reference
      edgesdk finetune build/ --data new_classes.npz --epochs 3

    Run `edgesdk COMMAND --help` for each command's options and an example.
    """


def _register_commands():
    from . import commands
    for m in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        mod = importlib.import_module(f"{commands.__name__}.{m.name}")
        cmd = getattr(mod, "command", None)
        if cmd is not None:
            main.add_command(cmd)


_register_commands()

if __name__ == "__main__":
    main()
