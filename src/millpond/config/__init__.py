"""Parameters as data: the typed use-case schema (params), model families, secret masking. Imports only the storage layer and errors."""
