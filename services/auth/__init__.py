"""Auth: tenancy (domains, projects, users), keypairs, and request verification for the edge."""
