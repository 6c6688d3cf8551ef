"""The agent: runs kernels on one node and reports them to the registry."""
