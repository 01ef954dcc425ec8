"""What providers and Standard Webhooks sources send: verified first, recorded once."""
