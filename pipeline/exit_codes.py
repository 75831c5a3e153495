"""The exit codes of every `pipeline` command, in one place (`pipeline.cli` and the command modules).

A run stopped by SIGINT / SIGTERM exits with the shell's 128 + signal number (130 / 143), from
`pipeline.signals.Stopped.exit_code`.
"""

EXIT_OK = 0  # done
EXIT_FAILED = 1  # the run, search or check failed (recorded FAILED with the reason)
EXIT_USAGE = 2  # bad recipe, arguments or store: one located message, no traceback
