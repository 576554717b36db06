"""The apps each system's worker processes import in the peer comparison
(``bench/peers_bench.py``): every task calls a body from ``bench/job_bodies.py``."""
