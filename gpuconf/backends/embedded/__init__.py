"""The embedded backend: a real local Ray cluster, one Ray node per planned pod."""
