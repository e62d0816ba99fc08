"""The async FastAPI port of the legacy users API."""
