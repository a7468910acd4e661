"""incidentio."""
