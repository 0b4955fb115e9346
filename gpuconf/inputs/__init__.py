"""Reading what users have: files, YAML with locations, Kubernetes and Serve schemas, expectations, limits."""
