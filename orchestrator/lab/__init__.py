"""``orch lab``: a multi-host cluster on one machine, made of network namespaces.

::

    lab netns  orchlab-<name>          bridge ul0 (the underlay)
                 ├─ v-m1 ══ eth0  netns orchlab-<name>-m1   10.99.0.1/24   orch daemon (manager, inits)
                 ├─ v-m2 ══ eth0  netns orchlab-<name>-m2   10.99.0.2/24   orch daemon (joins as manager)
                 └─ v-w1 ══ eth0  netns orchlab-<name>-w1   10.99.0.11/24  orch daemon (joins as worker)

Each host has its own state dir (``/var/lib/orch-lab/<name>/<host>``), run dir
(``/run/orch-lab/<name>/<host>``) and cgroup parent (``orch-lab-<name>-<host>``); its daemon runs
under ``nsenter --net`` only (the mount namespace is shared, so the paths are plain directories), in
its own session, logging to ``daemon.log`` in its state dir. Every lab uses the same underlay
subnet: the namespaces keep labs apart. What a lab made is recorded in ``lab.json`` so ``down``
can remove all of it, also after a crash.
"""
