"""gridmarket: a simulator of a local electricity market, as six HTTP services."""
