"""prosumer: households with wind turbines and batteries, and their ratios."""
