"""`docsum`: a command-line client of the docsum API (only what any client can use)."""
