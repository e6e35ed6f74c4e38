"""What the tests share: the MongoDB emulator harness (``mongo_server``, ``stall_proxy``),
bounded waits on the change feed (``waits``), the CLI and dashboard drivers (``cli``, ``tui``),
store targets (``targets``) and the fault tests' worker process (``fault_worker``).

``tests/`` is on ``sys.path`` under pytest (``tests/conftest.py``'s directory), so tests
import ``support.<module>``; the emulator's probe is ``scripts/probe_nx.py``.
"""
