"""The fields of reelhook's unified task request, as plain data: validation checks them, the
OpenAPI document and the CLI's options name them."""

TEXT_FIELDS = ("prompt", "negative_prompt", "image", "end_image", "aspect_ratio", "resolution")
NUMBER_FIELDS = ("duration", "guidance_scale")
