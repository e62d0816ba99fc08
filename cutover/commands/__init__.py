"""One module per command group of the ``cutover`` CLI."""
