"""``python -m reptile.bench``: the speed benchmark (:func:`reptile.bench.cli.main`)."""

from .cli import main

main()
