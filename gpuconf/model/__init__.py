"""Models of KubeRay's pod builder, the scheduler and Ray's resource scheduling, and the plan they make."""
