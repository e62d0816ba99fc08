"""Traffic metrics from the front door's access log: a follower, sliding windows, a Prometheus exporter."""
