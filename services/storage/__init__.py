"""The storage service: virtual folders on storage volumes, and their host paths for kernels."""
