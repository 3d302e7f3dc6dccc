"""auth: user profiles and their privileges over managers and prosumers."""
