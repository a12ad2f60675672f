"""The recommendation HTTP service: FastAPI on uvicorn, reading through the Kedro catalog.

Start it with ``python -m cripto_platform.serve``; ``create_app`` builds the application.
"""

from cripto_platform.serving.app import create_app

__all__ = ["create_app"]
