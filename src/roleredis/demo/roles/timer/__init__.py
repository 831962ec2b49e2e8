"""The timer role of the demo."""
