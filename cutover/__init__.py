"""The cutover toolkit: run Django and FastAPI side by side, prove parity, move routes between them."""

__version__ = "0.1.0"
