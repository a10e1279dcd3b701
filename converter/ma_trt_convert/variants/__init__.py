"""The variants the converter knows: their released files and how their export modules are built."""
