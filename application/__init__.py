"""Application services: commands and queries over the county's casebook."""
