"""Adapters from JS objects of the Workers runtime to the core's Protocols."""
