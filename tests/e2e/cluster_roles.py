"""What the kernels of the cluster session e2e tests run: batch kernels whose startup command
plays their role (main1 serves TCP on PORT, sub1 connects to "main1"), optionally after probing
that targets outside the session stay unreachable. Exit codes tell the outcome.
"""

from __future__ import annotations

PORT = 7070

# main1 answers "pong:<what it got>" to each connection; with LINGER it keeps serving until
# killed, so other sessions have something listening to (fail to) reach.
SERVER = """
import os, socket, sys, time
env = os.environ
ok = env["BACKENDAI_CLUSTER_SIZE"] == "2" and env["BACKENDAI_CLUSTER_HOSTS"] == "main1,sub1"
ok = ok and env["BACKENDAI_CLUSTER_REPLICAS"] == "main:1,sub:1"
srv = socket.create_server(("0.0.0.0", PORT))
srv.settimeout(90)
conn, _ = srv.accept()
data = conn.recv(100)
conn.sendall(b"pong:" + data)
conn.close()
if env.get("LINGER"):
    while True:
        srv.settimeout(None)
        c, _ = srv.accept()
        c.sendall(b"pong")
        c.close()
sys.exit(0 if ok and data == b"ping from sub1" else 3)
"""
CLIENT = """
import os, socket, sys, time
env = os.environ
ok = env["BACKENDAI_CLUSTER_ROLE"] == "sub" and env["BACKENDAI_CLUSTER_IDX"] == "1"
ok = ok and env["BACKENDAI_CLUSTER_LOCAL_RANK"] == "1" and env["BACKENDAI_CLUSTER_HOST"] == "sub1"
deadline = time.time() + 60
while True:
    try:
        conn = socket.create_connection(("main1", PORT), timeout=2)
        break
    except OSError:
        if time.time() > deadline:
            sys.exit(4)
        time.sleep(0.2)
conn.sendall(b"ping from " + env["BACKENDAI_CLUSTER_HOST"].encode())
reply = conn.recv(100)
sys.exit(0 if ok and reply == b"pong:ping from sub1" else 5)
"""
# Exits 0 only if none of the TARGETS ("host:port,...") accepts a connection.
PROBE = """
import os, socket, sys
for target in os.environ["TARGETS"].split(","):
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        sys.exit(7)
    except OSError:
        pass
"""


def role_command(probe: bool = False) -> str:
    """A startup command: the role's script, then (with `probe`) the unreachable-targets probe."""
    server = SERVER.replace("PORT", str(PORT))
    client = CLIENT.replace("PORT", str(PORT))
    script = f"""
import os, subprocess, sys
code = {server!r} if os.environ["BACKENDAI_CLUSTER_ROLE"] == "main" else {client!r}
if {probe!r}:
    probed = subprocess.run([sys.executable, "-c", {PROBE!r}])
    if probed.returncode:
        sys.exit(probed.returncode)
exec(compile(code, "role", "exec"))
"""
    return "python3 -c " + _sh_quote(script)


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
