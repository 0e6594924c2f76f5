"""Consent per customer, channel and purpose (UK GDPR / PECR), with its evidence."""
