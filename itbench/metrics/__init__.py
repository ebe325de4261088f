"""Pure metric functions over arrays: no model calls, no file I/O."""
