"""Storage: ports (``ports``) the services use, and one SQL implementation (``sql``)."""
