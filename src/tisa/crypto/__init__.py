"""Signing, envelopes and sealing: a thin layer over ``cryptography``."""
