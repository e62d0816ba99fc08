"""The catalog's parity material: cases (cases/), rules (rules.toml), its own credential schemes."""
