"""The edge's xDS control plane: resources, their versioned state and the ADS server."""
