"""market: polls the simulation cells, clears supply against demand, sets the price."""
