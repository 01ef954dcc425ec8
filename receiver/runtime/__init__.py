"""Running the processes: start-up checks, the event loop, the dispatcher's set-up, owners."""
