"""Agreement lifecycle: what is in force on a day, and why (pure)."""
