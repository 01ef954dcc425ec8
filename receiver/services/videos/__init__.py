"""Kept videos: the video store (a folder, S3-compatible, GCS or Azure through obstore), the copy
of a finished video (downloaded through the address guard, checked, streamed into the store), the
keeper that runs the durable copy jobs, and the links that let a person open a kept copy."""
