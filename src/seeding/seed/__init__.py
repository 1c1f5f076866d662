"""The seed from assets: the build identity, the route filter, packs, and one-fetch
seeding of the memory cache through the ASSETS binding."""
