"""marts."""
