"""The edge tier (Workers Cache in front of the Worker): the headers a stored page is sent
with, the tags the edge purges by, and purges and invalidations with retry."""
