"""simulation: the grid cell: consumer clusters, member states, totals, blackouts, history."""
