"""hlsmap.training."""
