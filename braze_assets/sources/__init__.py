"""Raw inputs: load declared source files into the warehouse exactly as they are."""
