"""volatility3 plugins for 2.4 kernels, loaded by volatility3 with ``vol -p`` on this
directory (``linux24.vmlist``, ``linux24.vtop``, ``linux24.pslist``); vmintro itself never
imports them.
"""
