"""Webhooks: signing and verification (Standard Webhooks v1)."""

from ._signature import compute_signature, decode_secret, sign

__all__ = ["compute_signature", "decode_secret", "sign"]
