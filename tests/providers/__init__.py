"""Each provider adapter's validation rules, from the providers' own pages."""
