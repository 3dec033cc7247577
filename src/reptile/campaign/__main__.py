"""``python -m reptile.campaign``: advance the paper-budget campaign, or show where it stands (:func:`reptile.campaign.main`)."""

from . import main

main()
