"""Developer tools shared by `tests/` and `bench/`: the harness that starts real redis-servers, workers
and services, and generators of test data. Not part of the service (the image does not ship it)."""
