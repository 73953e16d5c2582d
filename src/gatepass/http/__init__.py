"""The server's HTTP shell: thin Starlette adapters around the protocol core."""
