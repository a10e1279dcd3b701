"""Reference implementations ("oracles") the converter's ports are checked against, and their test doubles."""
