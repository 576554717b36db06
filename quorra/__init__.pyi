# The types of ``quorra/__init__.py``, whose client names load lazily (module ``__getattr__``).
from quorra.client import AsyncClient as AsyncClient
from quorra.client import Client as Client
from quorra.client import NewJob as NewJob

__all__ = ["AsyncClient", "Client", "NewJob", "__version__"]

__version__: str
