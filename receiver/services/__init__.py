"""The services the handlers, the CLI and the loops call: tasks, submits, polls, secrets.
No aiohttp.web below this line."""
