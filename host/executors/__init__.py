"""The executors that ship with exechost, registered through its own entry points."""
