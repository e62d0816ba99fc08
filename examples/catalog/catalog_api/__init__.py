"""The catalog API's FastAPI port: the routes moved off Django so far, answering as Django does."""
