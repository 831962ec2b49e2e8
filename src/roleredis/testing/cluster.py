"""Throwaway Redis Cluster and Sentinel deployments made of real ``redis-server`` processes.

:class:`RedisClusterProcesses` starts primaries and replicas with ``--cluster-enabled yes`` and
joins them with ``redis-cli --cluster create``; :class:`SentinelGroup` starts a primary, a
replica and three sentinels (``redis-server FILE --sentinel``: these machines have no
redis-sentinel binary). Both listen on 127.0.0.1 only, on free ports, never 6379, and give the
``redis+cluster://`` / ``redis+sentinel://`` URL that roleredis takes.

Facts they rely on (measured here): the cluster bus listens on port + 10000, so a node's port
is at most 55535 with port + 10000 free too; a replica takes over only once its first sync is
done, so nodes start with ``--repl-diskless-sync-delay 0`` and :meth:`wait_ready` waits for
``master_link_status:up`` on every replica.

Example::

    with RedisClusterProcesses() as cluster:
        client = redis.RedisCluster(startup_nodes=cluster.startup_nodes())
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis.cluster import ClusterNode

from roleredis.testing.server import _HOST, RedisServer, RedisServerError, free_port

__all__ = ["RedisClusterProcesses", "SentinelGroup", "cluster_port"]

_MAX_CLUSTER_PORT = 65535 - 10000


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((_HOST, port))
        except OSError:
            return False
    return True


def cluster_port(taken: Sequence[int] = ()) -> int:
    """A free port at most 55535 whose cluster-bus port (port + 10000) is free too."""
    for _ in range(500):
        port = random.randint(20000, _MAX_CLUSTER_PORT)
        if port in taken or port + 10000 in taken or port == 6379:
            continue
        if _free(port) and _free(port + 10000):
            return port
    raise RedisServerError("could not find a free port pair for a cluster node")


def _wait(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise RedisServerError(f"timed out after {timeout} s waiting for {what} (last error: {last!r})")


class RedisClusterProcesses:
    """``primaries`` primaries, each with ``replicas`` replicas, joined into one cluster.

    Args:
        primaries: at least 3 (Redis Cluster's minimum).
        replicas: replicas per primary.
        node_timeout_ms: ``cluster-node-timeout``: how soon a dead primary is failed over.
        extra_args: more ``redis-server`` arguments for every node (e.g. ``--requirepass``).
    """

    def __init__(
        self,
        primaries: int = 3,
        replicas: int = 1,
        *,
        node_timeout_ms: int = 2000,
        extra_args: Sequence[str] = (),
        password: str | None = None,
    ) -> None:
        if primaries < 3:
            raise ValueError("a Redis Cluster needs at least 3 primaries")
        self.primaries = primaries
        self.replicas = replicas
        self.password = password
        self.nodes: list[RedisServer] = []
        self._node_timeout_ms = node_timeout_ms
        self._extra_args = tuple(extra_args)

    # ------------------------------------------------------------------ addresses

    def startup_nodes(self) -> list[ClusterNode]:
        return [
            ClusterNode(_HOST, node.port)  # type: ignore[no-untyped-call]
            for node in self.nodes
            if node.running
        ]

    @property
    def url(self) -> str:
        """``redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...`` (every node, no password)."""
        return "redis+cluster://" + ",".join(f"{_HOST}:{n.port}" for n in self.nodes)

    def client(self, **kwargs: Any) -> redis.RedisCluster:
        """A new plain RedisCluster client (the caller closes it)."""
        return redis.RedisCluster(
            startup_nodes=self.startup_nodes(), password=self.password, **kwargs
        )

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> RedisClusterProcesses:
        taken: list[int] = []
        try:
            for _ in range(self.primaries * (1 + self.replicas)):
                port = cluster_port(taken)
                taken += [port, port + 10000]
                args = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(self._node_timeout_ms),
                    "--repl-diskless-sync-delay",
                    "0",
                    *self._extra_args,
                ]
                if self.password is not None:
                    args += ["--masterauth", self.password]
                node = RedisServer(port, password=self.password, extra_args=args)
                node.start()
                self.nodes.append(node)
            self._create()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _create(self) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RedisServerError("redis-cli is not on PATH (it comes with redis-server)")
        command = [cli, "--cluster", "create", *(f"{_HOST}:{n.port}" for n in self.nodes)]
        command += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        if self.password is not None:
            command += ["-a", self.password, "--no-auth-warning"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RedisServerError(
                f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}"
            )

    def _node_client(self, node: RedisServer) -> redis.Redis:
        return node.client(socket_timeout=2, socket_connect_timeout=2)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every running node says cluster_state:ok and every replica's link is up."""

        live = sum(1 for node in self.nodes if node.running)

        def ready() -> bool:
            replicas = 0
            for node in self.nodes:
                if not node.running:
                    continue
                client = self._node_client(node)
                try:
                    if client.cluster("info").get("cluster_state") != "ok":
                        return False
                    info = client.info("replication")
                    if info.get("role") == "slave":
                        if info.get("master_link_status") != "up":
                            return False
                        replicas += 1
                    # and every node has heard (by gossip) which nodes are replicas now
                    view: Any = client.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
                    text = view.decode() if isinstance(view, bytes) else str(view)
                    seen = sum(
                        1
                        for line in text.splitlines()
                        if "slave" in line.split()[2].split(",") and "fail" not in line.split()[2]
                    )
                    if seen < live - self.primaries:
                        return False
                finally:
                    client.close()
            # right after create, a replica-to-be is still an empty master for a moment
            return replicas >= live - self.primaries

        _wait("the cluster to be ready", ready, timeout)

    def primary_for_key(self, key: str | bytes) -> RedisServer:
        """The node that serves ``key``'s slot now."""
        client = self.client()
        try:
            node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
        finally:
            client.close()
        return next(n for n in self.nodes if n.port == node.port)

    def roles(self) -> dict[int, str]:
        """port -> "master" or "slave", as each running node sees itself."""
        out: dict[int, str] = {}
        for node in self.nodes:
            if node.running:
                client = self._node_client(node)
                try:
                    out[node.port] = str(client.info("replication")["role"])
                finally:
                    client.close()
        return out

    def wait_for_failover(self, dead: RedisServer, timeout: float = 20.0) -> None:
        """Until the live nodes mark the dead primary failed, another node serves its slots,
        and the cluster is ok again (right after a kill the others still think all is well)."""
        live = next(n for n in self.nodes if n.running and n is not dead)

        def taken_over() -> bool:
            client = self._node_client(live)
            try:
                nodes: Any = client.execute_command("CLUSTER", "NODES")  # type: ignore[no-untyped-call]
            finally:
                client.close()
            text = nodes.decode() if isinstance(nodes, bytes) else str(nodes)
            for line in text.splitlines():
                fields = line.split()
                if len(fields) > 2 and fields[1].split("@")[0].endswith(f":{dead.port}"):
                    flags = fields[2].split(",")
                    return "fail" in flags and len(fields) <= 8  # no slots of its own left
            return False

        _wait("a replica to take over the dead primary's slots", taken_over, timeout)
        self.wait_ready(timeout)

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()
        self.nodes = []

    def __enter__(self) -> RedisClusterProcesses:
        if not self.nodes:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Sentinel(RedisServer):
    """One sentinel process: ``redis-server <its config file> --sentinel``."""

    def __init__(self, port: int, monitor: str, primary_port: int, quorum: int) -> None:
        super().__init__(port)
        self._monitor = (monitor, primary_port, quorum)

    def _command(self, executable: str, data_dir: Path) -> list[str]:
        name, primary_port, quorum = self._monitor
        config = data_dir / "sentinel.conf"
        if not config.exists():  # Sentinel rewrites its file: write it once, keep it writable
            config.write_text(
                f"port {self.port}\n"
                f"bind {_HOST}\n"
                f"dir {data_dir}\n"
                f"logfile redis.log\n"
                f"sentinel monitor {name} {_HOST} {primary_port} {quorum}\n"
                f"sentinel down-after-milliseconds {name} 1000\n"
                f"sentinel failover-timeout {name} 5000\n"
                f"sentinel parallel-syncs {name} 1\n",
                encoding="utf-8",
            )
        return [executable, str(config), "--sentinel"]


class SentinelGroup:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels watching service ``name``."""

    def __init__(self, name: str = "roleredis", *, replicas: int = 1, sentinels: int = 3) -> None:
        self.name = name
        self.primary = RedisServer(extra_args=("--repl-diskless-sync-delay", "0"))
        self.replicas = [
            RedisServer(extra_args=("--repl-diskless-sync-delay", "0")) for _ in range(replicas)
        ]
        self._sentinel_count = sentinels
        self.sentinels: list[RedisServer] = []

    @property
    def url(self) -> str:
        """``redis+sentinel://127.0.0.1:S1,...,127.0.0.1:S3/<name>``."""
        nodes = ",".join(f"{_HOST}:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{nodes}/{self.name}"

    def servers(self) -> list[RedisServer]:
        """The data nodes: the first primary and its replicas (roles change on failover)."""
        return [self.primary, *self.replicas]

    def start(self) -> SentinelGroup:
        try:
            self.primary.start()
            for replica in self.replicas:
                replica.start()
                client = replica.client()
                try:
                    client.replicaof(_HOST, self.primary.port)
                finally:
                    client.close()
            self._wait_replicas_synced()
            quorum = self._sentinel_count // 2 + 1
            for _ in range(self._sentinel_count):
                sentinel = _Sentinel(free_port(), self.name, self.primary.port, quorum)
                sentinel.start()
                self.sentinels.append(sentinel)
            _wait("the sentinels to know each other and the replicas", self._sentinels_ready, 30)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_replicas_synced(self, timeout: float = 30.0) -> None:
        def synced() -> bool:
            for replica in self.replicas:
                if not replica.running:
                    continue
                client = replica.client(socket_timeout=2)
                try:
                    info = client.info("replication")
                finally:
                    client.close()
                if info.get("master_link_status") != "up":
                    return False
            return True

        _wait("the replicas to sync", synced, timeout)

    def _sentinels_ready(self) -> bool:
        for sentinel in self.sentinels:
            client = sentinel.client(socket_timeout=2)
            try:
                state: Any = client.sentinel_master(self.name)
            finally:
                client.close()
            if int(state.get("num-other-sentinels", 0)) < self._sentinel_count - 1:
                return False
            if int(state.get("num-slaves", 0)) < len(self.replicas):
                return False
        return True

    def current_primary(self) -> RedisServer:
        """The data node the sentinels name as primary now."""
        client = self.sentinels[0].client(socket_timeout=2)
        try:
            address: Any = client.sentinel_get_master_addr_by_name(self.name)
            port = address[1]
        finally:
            client.close()
        return next(s for s in self.servers() if s.port == int(port))

    def wait_for_failover(self, old: RedisServer, timeout: float = 20.0) -> RedisServer:
        """Until the sentinels name a primary other than ``old``; returns it."""
        _wait("a sentinel failover", lambda: self.current_primary() is not old, timeout)
        return self.current_primary()

    def stop(self) -> None:
        for server in [*self.sentinels, *self.replicas, self.primary]:
            with contextlib.suppress(Exception):
                server.stop()
        self.sentinels = []

    def __enter__(self) -> SentinelGroup:
        if not self.sentinels:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
