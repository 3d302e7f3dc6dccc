"""manager: coal power plants, their production, start-up, buffer and carbon emission."""
