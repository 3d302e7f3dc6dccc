"""Grid physics: weather, turbines, household load, batteries, coal plants and the market."""
