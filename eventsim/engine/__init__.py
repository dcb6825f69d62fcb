"""Running networks: the compiled event engine and its dense reference."""
