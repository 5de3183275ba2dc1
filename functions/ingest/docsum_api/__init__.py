"""The ingest function's HTTP API: the FastAPI app (`app`), its routes, dependencies, error
shape and web page, and the Lambda entry point (`handler.handler`, Mangum around the app)."""
