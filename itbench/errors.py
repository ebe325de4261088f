"""The one exception type itbench raises for bad input: its message says what is wrong and the fix.
The CLI prints it without a traceback and exits 2."""


class ItbenchError(ValueError):
    pass
