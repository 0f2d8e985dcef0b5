"""hlsmap.inference."""
