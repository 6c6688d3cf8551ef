"""Pure model of the scheduler: the cluster cache, policies, selectors and predicates."""
