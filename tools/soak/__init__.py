"""A simulated life of a provisioning server: nights of random change (upstream, the saved selection, how the
import runs), the nightly import, and invariants checked after every night (issue "A simulated year").

world.py is the server and its upstream, events.py what happens, invariants.py what must hold, run.py the
loop and its report, __main__.py the command (`make soak NIGHTS=… SEED=…`).
"""
