"""``python -m reptile.campaign.trained`` (:func:`reptile.campaign.trained.cli.main`)."""

from .cli import main

main()
