"""Small pieces every other package uses: the error type and safe file writing."""
