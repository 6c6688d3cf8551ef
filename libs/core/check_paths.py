"""The paths of auth's HTTP Check, shared by the edge (which calls it) and auth (which serves it).

Envoy puts CHECK_PREFIX in front of every client path it sends to the Check, so no client
request can ever reach HEALTH_PATH, which the edge's health checker asks (docs/edge-auth.md).
"""

CHECK_PREFIX = "/check"
HEALTH_PATH = "/healthz"
