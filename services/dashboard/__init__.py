"""dashboard: serves the built web app and tells it where the issuer and every service are."""
