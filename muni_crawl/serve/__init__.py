"""`muni-crawl serve`: the HTTP JSON API a hosted chatbot calls (see docs/serving.md).

app.py      the Starlette app: endpoints, readiness, access log
keys.py     API keys and their tenant scopes, loopback-only without keys
errors.py   every failure as {"error": {"type", "message"}} with the library's error types
metrics.py  Prometheus counters and histograms, added up over worker processes
openapi.py  the OpenAPI document, derived from the returned dataclasses
options.py  the options handed to each uvicorn worker process
runner.py   checks, then uvicorn with N workers

The app for another ASGI server: `uvicorn --factory muni_crawl.serve.app:create_app`.
Nothing is imported here, so that the CLI (which imports options.py) does not load the web
stack for its other commands.
"""
