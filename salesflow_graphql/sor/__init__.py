"""The system of record: the Java client, its typed records and frames, and the cached reading of them."""
