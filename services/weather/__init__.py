"""weather: wind and temperature per location, from OpenWeatherMap or a synthetic model."""
