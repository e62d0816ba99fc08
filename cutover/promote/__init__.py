"""Guarded promotion (``cutover promote``): a route's canary stepped up while modern's figures on the route
stay within the thresholds of legacy's, rolled back on a breach (docs/promote.md)."""
