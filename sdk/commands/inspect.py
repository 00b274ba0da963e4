"""`edgesdk inspect`: what is in a model, layer by layer (shapes, params, MACs, memory)."""
import click

from .convert import PASSES_HELP, SHAPE_HELP


@click.command("inspect")
@click.argument("model")
@click.option("--input-shape", "input_shape", multiple=True, metavar="NAME=D1,D2,...", help=SHAPE_HELP)
@click.option("--passes", default="default", show_default=True, metavar="default|none|P1,P2", help=PASSES_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the same numbers as JSON, for machines.")
def command(model, input_shape, passes, as_json):
    """Print MODEL's layers: op, input/output shapes, params, MACs, activation bytes; then totals.

    By default the graph is shown after the default passes (BatchNorm folded into convs,
    activations fused), as a build would see it; --passes none shows it as imported.
    Bytes are those of each tensor's dtype (float models: 4 per value).

    \b
    Example:
      edgesdk inspect model.onnx
      edgesdk inspect mobilenet.onnx --input-shape input=1,3,224,224 --json > stats.json
    """
    import json

    from ..analysis import analyze, format_table
    from .convert import apply_passes_option, load_model_file, parse_input_shapes
    graph = load_model_file(model, parse_input_shapes(input_shape))
    graph = apply_passes_option(graph, passes)
    stats = analyze(graph)
    if as_json:
        doc = stats.to_json()
        doc["source"] = str(model)
        doc["passes"] = graph.meta.get("passes", [])
        click.echo(json.dumps(doc, indent=1))
    else:
        click.echo(format_table(stats))
