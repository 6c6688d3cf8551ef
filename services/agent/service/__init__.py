"""Agent application layer: use cases over the ports in `ports.py`."""
