"""The shared schema: Django owns it (migrations); the port maps it (SQLAlchemy). Checks between the two."""
