"""The `prunelab` command: one subcommand per stage, plus `run`, the main job."""
