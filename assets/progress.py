"""A process-wide progress hook: the CLI installs a progress bar, Dagster logs otherwise."""

from collections.abc import Callable

_reporter: Callable[[str], None] | None = None


def set_reporter(reporter: Callable[[str], None] | None) -> None:
    global _reporter
    _reporter = reporter


def reporter(fallback: Callable[[str], None]) -> Callable[[str], None]:
    """The installed reporter (also logging through `fallback`), or just `fallback`."""
    if _reporter is None:
        return fallback

    def both(message: str) -> None:
        fallback(message)
        _reporter(message)

    return both
