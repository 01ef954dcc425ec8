"""The channels notices go out through: slack, email, webhook.

Their names are plain data here, read by settings, validation and the API without importing the
senders; `registry` builds the channels.
"""

# Every channel's name, as a notify entry, a destination and the API give it.
CHANNEL_NAMES: tuple[str, ...] = ("slack", "email", "webhook")
