"""The offline demo and its notice sinks."""
