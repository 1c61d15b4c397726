"""Cluster membership: join tokens, the join/leave protocol between daemons, persisted membership.

::

    orch cluster join --token T M:2377          (on host B)
      B's daemon ──JoinCluster──▶ itself: leaves its own fresh cluster of one
      B ──Join(token, node id, addrs)──▶ manager M: checks T, creates Node B, replies role + members
      worker:  B starts its agent against the managers' dispatchers
      manager: B restarts Raft with the members as peers ──AddManager(raft addr)──▶ M (to the leader)

The protocol travels as JSON over a small gRPC service (``orch.v1.Membership``) so it can evolve
without regenerating code; mTLS credentials plug in where channels are made (``rpc.channel``).
"""
