"""HTTP API and web page (FastAPI + uvicorn): ``fingerspell serve MODEL_DIR``."""
