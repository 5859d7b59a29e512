"""Customer 360: the merged profile and the attributes computed per customer."""
