"""Pure agent domain: kernel specs, results, exits, node resources."""
