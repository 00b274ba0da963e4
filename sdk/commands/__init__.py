"""One module per CLI subcommand; each exposes a click command named `command`.

Modules here must import quickly: heavy imports go inside the command function.
"""
