"""hlsmap.sensors."""
