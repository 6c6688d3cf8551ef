"""The chaos benchmark: does the platform lose, duplicate or wedge sessions under crashes?

    .venv/bin/python -m bench.chaos [--sessions 1000] [--seed N] [--scenario queue] [--keep]

It starts its own PostgreSQL and Redis (never the machine's shared ones: it stops and restarts
them), then the platform as separate processes the way `shipyard up` configures them: storage,
auth, two replicas each of the registry and the scheduler, several process-backend agents and
the Envoy edge (`bench/chaos/cluster.py`). As an ordinary user (made through the admin API) it
submits short batch sessions (`sleep 1; exit 0`) through the edge, each with its own client
token and retried with that token until acknowledged, at most 100 unfinished at once
(`load.py`). Meanwhile it kills -9 and restarts each process once, stops PostgreSQL for 10 s and
restarts Redis, one fault at a time at seeded random moments (`faults.py`; `--seed`).

The last lines it prints, read from the benchmark's database once the platform is quiet:

- `acknowledged: N`: creations the edge answered with a session.
- `lost: L`: acknowledged sessions that are missing, or not in a final status (TERMINATED,
  CANCELLED, ERROR) once the platform is quiet (no live session, or `--quiet-timeout` over). A
  session that ended with a reason (e.g. its agent was lost) is not lost.
- `duplicated: D`: client tokens with more than one session.
- `stuck after 30 s: S`: looked at 30 s after the last fault ended: acknowledged sessions in a
  live status (PENDING ... TERMINATING) that has not changed for 30 s.
- `leaked slots: K`: agents whose recorded occupied slots differ from the sum of their live
  kernels' slots, plus slot-holding kernels of sessions that are over (`verify.py`).
- `scheduler failover s: X`: the longest time, over the scheduler kills (each kills the lease
  holder), from its SIGKILL to the leader lease naming the other replica.

`--scenario queue` (`queue.py`): 500 sessions while agent-1's starts all fail and agent-2 is
stopped with SIGTERM mid-run; prints `finished: F/500` (TERMINATED, exit 0) and `black-holed: B`
(the others). The edge names one registry address, so a client whose registry replica is down
retries until it is back (internal clients use both replicas).
"""
