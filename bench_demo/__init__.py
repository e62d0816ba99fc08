"""The demo's benchmark fixtures for ``cutover bench``: its dataset factory and its floor (pyproject.toml,
``[tool.cutover.bench]``). Like any team's, they reach the toolkit only through the project config."""
