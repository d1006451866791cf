"""The functional core: pure decisions over plain data. No I/O, no framework, no clock."""
