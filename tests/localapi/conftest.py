from tests.support.local_api import local_api_factory, shared_local_api

__all__ = ["local_api_factory", "shared_local_api"]
