"""What a study's forkserver imports before it forks workers (see
:mod:`tradewind.backtest.workers`): the runs' code and its compiled kernels, loaded once
in the server so that every worker forked from it starts warm.

Importing this module loads the kernels: that side effect is its purpose. Nothing else
imports it.
"""

from tradewind.backtest import montecarlo as _montecarlo  # noqa: F401  (the runs' tasks)
from tradewind.backtest.run import compile_kernels

compile_kernels()
