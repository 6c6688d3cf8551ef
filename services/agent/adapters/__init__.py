"""Agent adapters: kernel backends and the kernel runner client."""
