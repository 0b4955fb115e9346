"""The static tier: rules over the plan, the check, its rendering and the regression cases."""
