"""The request flow: the lookup order (memory, KV, seed), the verdict, the one storage
decision, canonical renders, regeneration and the answers."""
