"""M/M/1 in SimPy, the same model as meshsim's `peers` bench.

Usage: python3 benches/mm1_simpy.py CUSTOMERS LAMBDA [REPEATS]
Prints `simpy_requests_per_sec=<float>` (customers completed per wall second),
the best of REPEATS runs (default 1), as the meshsim side is timed.
Service is exponential with mean 1 ms (mu = 1000/s), as in the meshsim run;
sojourn times are summed so the work is comparable to meshsim's metrics.
"""
import random
import sys
import time

import simpy


def run(customers: int, lam: float) -> tuple[int, float, float]:
    """One run: (customers done, mean sojourn in ms, wall seconds)."""
    mean_service = 0.001
    rng = random.Random(1)
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=1)
    stats = {"done": 0, "sojourn": 0.0}

    def customer(env):
        arrived = env.now
        with server.request() as req:
            yield req
            yield env.timeout(rng.expovariate(1.0 / mean_service))
        stats["done"] += 1
        stats["sojourn"] += env.now - arrived

    def source(env):
        for _ in range(customers):
            yield env.timeout(rng.expovariate(lam))
            env.process(customer(env))

    env.process(source(env))
    start = time.perf_counter()
    env.run()
    elapsed = time.perf_counter() - start
    return stats["done"], stats["sojourn"] / stats["done"] * 1e3, elapsed


def main() -> None:
    customers = int(sys.argv[1])
    lam = float(sys.argv[2])
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    runs = [run(customers, lam) for _ in range(repeats)]
    done, sojourn_ms, elapsed = min(runs, key=lambda r: r[2])
    print(f"customers={done} mean_sojourn_ms={sojourn_ms:.3f}")
    print(f"simpy_requests_per_sec={done / elapsed:.0f}")


if __name__ == "__main__":
    main()
