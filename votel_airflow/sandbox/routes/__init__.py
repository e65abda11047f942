"""The API's routers, one module per section of the contract."""
