"""Infrastructure shared by every service: settings, errors, storage, clock, tick loop."""
