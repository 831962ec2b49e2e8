"""The weather role of the demo."""
