"""The fragment cache's storage: one entry per section answer, in memory (L1) and in a shared store (L2).

Entries carry wall-clock times (epoch seconds) because L2 is shared by every execution environment. A store
never raises into a page: a failing L2 is a miss, reported to the `on_error` each call is given (the recorder of the
request that waits for it).
"""
