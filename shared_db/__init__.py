"""The one PostgreSQL schema both apps use: its URL, its embedded server, its SQLAlchemy mapping."""
