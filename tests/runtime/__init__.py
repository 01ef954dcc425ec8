"""Running the processes: start-up checks, serve and worker, faults."""
