"""Customer 360 tables built on identity resolution: the merged profile and transaction attributes."""
