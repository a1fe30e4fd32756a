"""tokentide's benchmark suite (not tests): `uv run python -m bench --help`."""
