"""Organisations: members with roles, invitations, and who may use what an organisation owns."""
