"""The ``reconciler`` command line: one command, a subcommand per job."""
