"""Product-details Backend-for-Frontend: one page request fanned out to the downstream services."""
