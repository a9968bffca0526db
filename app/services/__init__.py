"""The use cases: one transaction each, calling domain/ for every decision."""
