"""The grid runner: experiment files → jobs → local or Ray execution, resumable."""
