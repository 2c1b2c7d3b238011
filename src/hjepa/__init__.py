"""hjepa."""
