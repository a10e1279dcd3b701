"""Test doubles and helpers, importable as ``support`` from test/ and from the ROS tests' child processes."""
