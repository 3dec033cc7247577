"""``python -m reptile.bench``: the speed benchmark (:func:`reptile.bench.main`)."""

from . import main

main()
